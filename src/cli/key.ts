// `davcrypt key rotate|reencrypt MOUNT` (new current key; rewrite old files to it,
// resumably; drop old keys no file uses) and `davcrypt master init` (create the
// master key file for keys.mode: master). Passwords from stdin or prompted; a
// progress bar on a terminal for re-encryption.
import { parseArgs } from 'node:util';
import { masterKeyFileOf } from '../config/index.js';
import { plural } from '../tools/report-text.js';
import { loadCommandConfig } from './config-notice.js';
import { davError } from '../errors.js';
import { createMasterKeyFile, formatMountId, wipeMountKeys } from '../keys/index.js';
import { reencryptComplete, reencryptTree, scanKeyUsage, type ReencryptReport } from '../tools/reencrypt.js';
import { countTree } from '../tools/walk.js';
import { dropOldKeys, keyedMount, openMountKeys, rotateMount, type CustodyContext } from '../users/index.js';
import { createProgressBar } from './progress.js';
import { openerFromFlags, withCustody, type KeyCliIO } from './recovery.js';

export const KEY_USAGE = `usage: davcrypt key <rotate|reencrypt> MOUNT [options]

  key rotate MOUNT [--user NAME] [--config FILE]
      Adds a new current key to the mount (its path in the config), wrapped to every
      identity of its keyring (members, recovery, master). New files use it; old
      files stay readable with the old keys, which are kept. Needs no password.
      Running gateways switch within auth.recheckSeconds.
  key rotate MOUNT ... --reencrypt [--drop-old] (--as NAME | --recovery | --master)
      Rotates, then re-encrypts (see below).
  key reencrypt MOUNT [--user NAME] (--as NAME | --recovery | --master) [--drop-old]
      Rewrites every file that uses an old key to the current key, safely while
      the gateway serves: each file is re-encrypted into <mount>/.davcrypt/reencrypt/,
      read back and compared (SHA-256 of the plaintext), and moved over the original
      only if its ETag did not change meanwhile. Interrupted? Run it again: files
      already under the current key are skipped. --drop-old then removes every old
      key no file uses any more (only when the run left nothing behind).

  MOUNT            mount path in the config: / or /team
  --user NAME      owner of a per-user mount (whose home); also the default --as
  --as NAME        that user's password (stdin) opens the old keys
  --recovery       the recovery password (stdin) opens them
  --master         the master key file (keys.masterKeyFile) opens them
  --config FILE    configuration file (default config/default.yaml)
  -h, --help       show this help

exit codes: 0 done; 1 could not start or interrupted; 2 usage; 3 some files failed or
changed meanwhile (listed; run key reencrypt again)`;

export const MASTER_USAGE = `usage: davcrypt master init [--config FILE]

Creates the master key file named by keys.masterKeyFile (default <dataDir>/master.key),
mode 0600, for keys.mode: master. Refuses to overwrite an existing file. Keep a copy
somewhere safe: with keys.mode: master every mount key is also wrapped to it, and the
offline recover tool can use it (recover --master-key FILE).

options:
  --config FILE    configuration file (default config/default.yaml)
  -h, --help       show this help`;

/** Runs one `key` subcommand; returns the exit code. Throws DavcryptErrors. */
export async function runKey(args: string[], io: KeyCliIO & { signal?: AbortSignal }, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      user: { type: 'string' },
      as: { type: 'string' },
      recovery: { type: 'boolean' },
      master: { type: 'boolean' },
      reencrypt: { type: 'boolean' },
      'drop-old': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(KEY_USAGE + '\n');
    return 0;
  }
  const [action, mountPath, ...rest] = positionals;
  if (action === undefined) {
    io.stdout.write(KEY_USAGE + '\n');
    return 2;
  }
  if (action !== 'rotate' && action !== 'reencrypt') throw davError('DC_ERR_USAGE', `unknown key command ${action ?? '(none)'}\n${KEY_USAGE}`);
  if (!mountPath) throw davError('DC_ERR_USAGE', `key ${action} needs MOUNT\n${KEY_USAGE}`);
  if (rest.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${rest[0]}\n${KEY_USAGE}`);
  const rewrite = action === 'reencrypt' || values.reencrypt === true;
  if (values['drop-old'] && !rewrite) throw davError('DC_ERR_USAGE', '--drop-old needs re-encryption (key reencrypt, or key rotate --reencrypt)');
  const openerFlags = { as: values.as, recovery: values.recovery, master: values.master };
  if (rewrite && openerFlags.as === undefined && !openerFlags.recovery && !openerFlags.master && values.user) openerFlags.as = values.user;
  if (!rewrite && (openerFlags.as !== undefined || openerFlags.recovery || openerFlags.master)) {
    throw davError('DC_ERR_USAGE', 'key rotate without --reencrypt needs no password: drop --as/--recovery/--master');
  }
  const { opener } = rewrite ? await openerFromFlags(openerFlags, io, true) : { opener: undefined };
  return withCustody(
    values.config ?? defaultConfig,
    async (ctx) => {
      keyedMount(ctx, mountPath, values.user); // usage errors before any change
      let rotatedAt: number | undefined;
      if (action === 'rotate') {
        const r = await rotateMount(ctx, mountPath, values.user);
        rotatedAt = Date.now();
        io.stdout.write(`rotated ${formatMountId(r.mountId)}: new current key ${r.current} (was ${r.previous}), wrapped to ${r.wrappedTo.join(', ')}\n`);
      }
      if (!rewrite) return 0;
      return reencryptCommand(ctx, mountPath, values.user, opener!(ctx.master), io, values['drop-old'] ?? false, rotatedAt);
    },
    openerFlags.master ?? false,
    io.output,
  );
}

async function reencryptCommand(
  ctx: CustodyContext,
  mountPath: string,
  owner: string | undefined,
  opener: Parameters<typeof openMountKeys>[3],
  io: KeyCliIO & { signal?: AbortSignal },
  dropOld: boolean,
  rotatedAt: number | undefined,
): Promise<number> {
  const target = keyedMount(ctx, mountPath, owner);
  const backend = await ctx.services.backends.rawBackend(target.mount, target.user);
  const opened = await openMountKeys(ctx, mountPath, owner, opener);
  let report: ReencryptReport;
  const bar = createProgressBar('reencrypt', io.stderr ?? { isTTY: false, write: () => true });
  try {
    if (bar) {
      const totals = await countTree(backend, '/', { signal: io.signal, descend: (i) => !i.hasKeyringFolder });
      bar.setTotals(totals.files, totals.bytes);
    }
    report = await reencryptTree({ backend, keys: opened.keys, signal: io.signal, progress: bar }).finally(() => bar?.finish());
  } finally {
    wipeMountKeys(opened.all);
  }
  io.stdout.write(
    `re-encrypted ${report.reencrypted} of ${plural(report.files, 'file')} to key ${opened.keys.current.id.toString('hex')} ` +
      `(${report.current} already current, ${report.plaintext} plaintext left as is)\n`,
  );
  for (const p of report.changed) io.stdout.write(`CHANGED\t${p}\n`);
  for (const f of report.failed) io.stdout.write(`FAILED\t${f.path}\t${f.code}\t${f.message}\n`);
  for (const n of report.nestedMounts) io.stdout.write(`SKIPPED\t${n}\tnested mount (own keyring)\n`);
  if (!reencryptComplete(report)) {
    if (dropOld) io.stdout.write('old keys kept: some files were not re-encrypted (run key reencrypt again)\n');
    return 3;
  }
  if (!dropOld) return 0;
  if (rotatedAt !== undefined) {
    // A gateway that has not noticed the rotation yet may still write with the old key: wait it out.
    const waitMs = ctx.config.auth.recheckSeconds * 1000 - (Date.now() - rotatedAt);
    if (waitMs > 0) {
      io.stdout.write(`waiting ${Math.ceil(waitMs / 1000)} s for running gateways to switch to the new key\n`);
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
  const usage = await scanKeyUsage(backend, io.signal);
  if (usage.unreadable.length > 0) {
    io.stdout.write(`old keys kept: ${usage.unreadable.length} file(s) could not be checked (${usage.unreadable.slice(0, 3).join(', ')})\n`);
    return 3;
  }
  const keep = new Set([...usage.byKey.keys()]);
  const dropped = await dropOldKeys(ctx, mountPath, owner, keep);
  const stillUsed = [...keep].filter((id) => id !== opened.keys.current.id.toString('hex'));
  io.stdout.write(`dropped ${dropped.length} old key${dropped.length === 1 ? '' : 's'}${dropped.length ? ': ' + dropped.join(', ') : ''}\n`);
  if (stillUsed.length > 0) io.stdout.write(`kept (files written meanwhile still use them): ${stillUsed.join(', ')}\n`);
  return 0;
}

/** Runs `davcrypt master init`; returns the exit code. Throws DavcryptErrors (DC_ERR_EXISTS when the file exists). */
export async function runMaster(args: string[], io: { stdout: NodeJS.WritableStream }, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout.write(MASTER_USAGE + '\n');
    return 0;
  }
  if (positionals.length === 0) {
    io.stdout.write(MASTER_USAGE + '\n');
    return 2;
  }
  if (positionals[0] !== 'init' || positionals.length > 1) throw davError('DC_ERR_USAGE', `unknown master command ${positionals.join(' ') || '(none)'}\n${MASTER_USAGE}`);
  const config = await loadCommandConfig(values.config ?? defaultConfig, io.stdout, { mayCreateStore: true });
  const file = masterKeyFileOf(config);
  const publicKey = await createMasterKeyFile(file);
  io.stdout.write(`master key file created: ${file} (mode 0600; public key ${publicKey.toString('base64')})\n`);
  if (config.keys.mode !== 'master') io.stdout.write('note: set keys.mode: master in the config for the gateway to use it\n');
  io.stdout.write('keep a copy of it offline: whoever has it can open every mount key wrapped to it\n');
  return 0;
}
