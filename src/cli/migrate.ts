// `davcrypt encrypt-all` / `davcrypt decrypt-all`: converts a configured mount's
// existing files in place (safe while the gateway serves; resumable). Keys come
// from the gateway's store, unlocked with the user's password.
import { parseArgs } from 'node:util';
import { davError } from '../errors.js';
import { readMasterKeyFile } from '../keys/index.js';
import { findMount, openConfiguredMount } from '../tools/config-mount.js';
import { migrateSucceeded, migrateTree, type MigrateDirection } from '../tools/migrate.js';
import { EXIT_INCOMPLETE, EXIT_OK, migrateLines } from '../tools/report-text.js';
import { countTree } from '../tools/walk.js';
import { loadCommandConfig } from './config-notice.js';
import { readPasswords } from './password.js';
import { createProgressBar } from './progress.js';
import type { ToolIO } from './recover.js';

function usage(command: string): string {
  const encrypt = command === 'encrypt-all';
  return `usage: davcrypt ${command} [MOUNT] [--config FILE] (--user NAME | [--user OWNER] (--recovery | --master-key FILE))

${encrypt ? 'Encrypts the plaintext files already on a mount (files put there before encryption was\non, or straight into the backend).' : 'Decrypts every encrypted file of a mount back to plaintext (before turning encryption\noff for it).'} Safe while the gateway is serving: each file is
converted into a hidden copy under <mount>/.davcrypt/migrate/, ${encrypt ? 'verified (decrypted and\ncompared by SHA-256 with the original)' : 'verified (every tag checked\nwhile decrypting)'}, and moved over the original only if the original's
ETag did not change meanwhile; a file changed meanwhile is left alone and listed as
CHANGED. Interrupted runs resume: run the command again (${encrypt ? 'encrypted files are\nrecognised by their DAVCRYPT magic' : 'plaintext files are skipped'}, leftover temp copies are removed). Subfolders
holding another mount's keyring are not touched. Do not run two conversions of one
mount at the same time.

  MOUNT           the mount's path in the config (default /)
  --config FILE   configuration file (default config/default.yaml)
  --user NAME     whose password unlocks the mount's keys (read from stdin, or
                  prompted on a terminal); for a per-user mount, whose home
  --recovery      unlock with the recovery password instead (admins: no user
                  password needed); --user OWNER still names a per-user home
  --master-key FILE  unlock with the master key file (keys.mode: master; no
                  password); --user OWNER still names a per-user home
  -h, --help      show this help

exit codes: 0 all converted; 1 could not start or interrupted; 2 usage;
3 some files failed or changed meanwhile (listed on stdout)`;
}

export const ENCRYPT_ALL_USAGE = usage('encrypt-all');
export const DECRYPT_ALL_USAGE = usage('decrypt-all');

/** Runs encrypt-all (direction 'encrypt') or decrypt-all; returns the exit code. */
export async function runMigrate(direction: MigrateDirection, args: string[], io: ToolIO, defaultConfig: string): Promise<number> {
  const command = direction === 'encrypt' ? 'encrypt-all' : 'decrypt-all';
  const help = usage(command);
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' }, user: { type: 'string' }, recovery: { type: 'boolean' }, 'master-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(help + '\n');
    return EXIT_OK;
  }
  if (positionals.length > 1) throw davError('DC_ERR_USAGE', `unexpected argument ${positionals[1]}\n${help}`);
  if (values.recovery && values['master-key'] !== undefined) throw davError('DC_ERR_USAGE', `give --recovery or --master-key, not both\n${help}`);
  const byAdmin = values.recovery === true || values['master-key'] !== undefined;
  if (!values.user && !byAdmin) throw davError('DC_ERR_USAGE', `${command} needs --user NAME, --recovery or --master-key FILE\n${help}`);
  const config = await loadCommandConfig(values.config ?? defaultConfig, io.output);
  const mount = findMount(config, positionals[0] ?? '/');
  if (direction === 'encrypt' && !mount.encrypt) {
    throw davError('DC_ERR_USAGE', `mount ${mount.path} has encrypt: false in the config: set it to true first, or clients would get ciphertext`);
  }
  const master = values['master-key'] !== undefined ? await readMasterKeyFile(values['master-key']) : undefined;
  const [password] = master ? [undefined] : await readPasswords([{ label: values.recovery ? 'recovery password' : `password of ${values.user}` }], io);
  const opened = await openConfiguredMount(config, {
    mountPath: positionals[0] ?? '/',
    user: values.user,
    recovery: values.recovery,
    master,
    password,
    createKeys: direction === 'encrypt',
  });
  const bar = createProgressBar(command, io.stderr);
  try {
    if (bar) {
      const totals = await countTree(opened.backend, '/');
      bar.setTotals(totals.files, totals.bytes);
    }
    const report = await migrateTree({ backend: opened.backend, keys: opened.keys, direction, progress: bar }).finally(() => bar?.finish());
    for (const line of migrateLines(command, report)) io.stdout.write(line + '\n');
    if (direction === 'encrypt' && mount.plaintext === 'read') {
      // plaintext: read exists only for this migration; say when it has done its job.
      io.stdout.write(
        migrateSucceeded(report)
          ? `mount ${mount.path} holds no plaintext files any more: remove "plaintext: read" from its config (the default, refuse, makes any file without the DAVCRYPT magic an error)\n`
          : `mount ${mount.path} still holds plaintext files (listed above): keep "plaintext: read" and run ${command} again\n`,
      );
    }
    return migrateSucceeded(report) ? EXIT_OK : EXIT_INCOMPLETE;
  } finally {
    await opened.close();
  }
}
