// `davcrypt verify`: integrity scan of every encrypted file (every tag, the final
// segment, the length). Offline form reads a storage copy like recover; config form
// finds the mount in the gateway config and takes keys from the gateway's store.
// Read-only: never writes to the storage or the store.
import { parseArgs } from 'node:util';
import { loadCommandConfig } from './config-notice.js';
import { foreignEnvelopeBounds } from '../crypto/index.js';
import { davError } from '../errors.js';
import { openConfiguredMount } from '../tools/config-mount.js';
import { IdentityUnlocker, identityFromFlags } from '../tools/identity-keys.js';
import { KeyScopes } from '../tools/key-scopes.js';
import { EXIT_INCOMPLETE, EXIT_OK, verifyLines } from '../tools/report-text.js';
import { verifySucceeded, verifyTree, type VerifyReport } from '../tools/verify.js';
import { countTree } from '../tools/walk.js';
import { readPasswords } from './password.js';
import { createProgressBar } from './progress.js';
import { SOURCE_OPTIONS, offlineBounds, openSourceFromFlags, sourceCredentials, unlockerFromFlags, withMountRootHint, type ToolIO } from './recover.js';

export const VERIFY_USAGE = `usage: davcrypt verify --from DIR|URL (--user NAME | --recovery | --master-key FILE) [--backend-user U --backend-password-env VAR]
       davcrypt verify [MOUNT] [--config FILE] (--user NAME | --recovery [--user NAME])
       (either form: [--plaintext refuse|read])

Decrypts every encrypted file into nothing, checking every segment's tag, the final
segment and the length, and lists each file that fails as FAILED <path> <code> <reason>
(DC_ERR_TAMPERED, DC_ERR_TRUNCATED, DC_ERR_TRAILING_DATA, DC_ERR_UNKNOWN_KEY...).
A file without the DAVCRYPT magic (plaintext, emptied, damaged magic) fails as
DC_ERR_NOT_ENCRYPTED, unless the mount has plaintext: read (config form) or
--plaintext read is given: then it is counted as not encrypted. Never writes anything.

  --from DIR|URL              offline form: a storage copy (mount root), as for recover
  MOUNT                       config form: the mount's path in the config (default /)
  --config FILE               configuration file (default config/default.yaml)
  --user NAME                 whose password unlocks the keys (and whose home a
                              per-user mount is)
  --recovery                  unlock with the recovery identity's password
  --master-key FILE           offline form only: unlock with the master key file
                              (keys.mode: master; no password)
  --backend-user U, --backend-password-env VAR   WebDAV credentials for a --from URL
  --plaintext refuse|read     files without the magic: FAILED (refuse; default: the
                              mount's setting, refuse offline) or counted (read)
  --trust-unauthenticated     also check files whose key opens but carries no valid
                              keyring tag of this identity (still listed)
  --argon2-max-memory KIB     offline form: refuse envelopes needing more argon2 memory
                              (default 262144 KiB)
  -h, --help                  show this help

Only keys the identity's own keyring tag vouches for count (docs/FORMAT.md §3.6): with
the config form, the keys of the gateway's store. A file under any other key is not
verified and is listed as UNAUTHENTICATED <path> <key id>.
The password (none with --master-key) is read from stdin (one line), or prompted on a terminal.
exit codes: 0 all files verified; 1 could not start; 2 usage; 3 some files failed or
were skipped for an unauthenticated key`;

/** Runs `davcrypt verify`; returns the exit code. Throws DavcryptErrors when it cannot start. */
export async function runVerify(args: string[], io: ToolIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...SOURCE_OPTIONS, config: { type: 'string' }, plaintext: { type: 'string' } },
  });
  const plaintextFlag = values.plaintext;
  if (plaintextFlag !== undefined && plaintextFlag !== 'refuse' && plaintextFlag !== 'read') {
    throw davError('DC_ERR_USAGE', `--plaintext must be refuse or read\n${VERIFY_USAGE}`);
  }
  if (values.help) {
    io.stdout.write(VERIFY_USAGE + '\n');
    return EXIT_OK;
  }
  if (positionals.length > 1) throw davError('DC_ERR_USAGE', `unexpected argument ${positionals[1]}\n${VERIFY_USAGE}`);
  const bar = createProgressBar('verify', io.stderr);
  let report: VerifyReport;
  if (values.from !== undefined) {
    if (positionals.length > 0 || values.config !== undefined) {
      throw davError('DC_ERR_USAGE', `--from cannot be combined with MOUNT or --config\n${VERIFY_USAGE}`);
    }
    identityFromFlags(values.user, values.recovery, values['master-key']);
    offlineBounds(values['argon2-max-memory']);
    io.output.write(`davcrypt: reading storage ${values.from} (no config or store needed)\n`);
    const source = await openSourceFromFlags(values.from, values['backend-user'], values['backend-password-env'], io.env ?? process.env);
    try {
      const scopes = new KeyScopes(source, await unlockerFromFlags(values, io), { trustUnauthenticated: values['trust-unauthenticated'] ?? false });
      if (bar) {
        const totals = await countTree(source, '/');
        bar.setTotals(totals.files, totals.bytes);
      }
      try {
        report = await verifyTree({ source, scopes, progress: bar, plaintext: plaintextFlag ?? 'refuse' })
          .catch(async (err: unknown) => {
            throw await withMountRootHint(err, values.from!, sourceCredentials(values, io.env ?? process.env));
          })
          .finally(() => bar?.finish());
      } finally {
        scopes.wipe();
      }
    } finally {
      await source.close();
    }
  } else {
    if (values['backend-user'] !== undefined || values['backend-password-env'] !== undefined) {
      throw davError('DC_ERR_USAGE', '--backend-user and --backend-password-env apply only with --from URL');
    }
    if (values['master-key'] !== undefined) throw davError('DC_ERR_USAGE', `--master-key applies only with --from\n${VERIFY_USAGE}`);
    if (values['argon2-max-memory'] !== undefined) throw davError('DC_ERR_USAGE', `--argon2-max-memory applies only with --from\n${VERIFY_USAGE}`);
    if (!values.user && !values.recovery) throw davError('DC_ERR_USAGE', `give --user NAME or --recovery\n${VERIFY_USAGE}`);
    const config = await loadCommandConfig(values.config ?? defaultConfig, io.output);
    const identity = values.recovery ? 'recovery' : `user:${values.user}`;
    const [password] = await readPasswords([{ label: `password of ${identity}` }], io);
    const opened = await openConfiguredMount(config, {
      mountPath: positionals[0] ?? '/',
      user: values.user,
      recovery: values.recovery,
      password: password!,
    });
    const scopes = new KeyScopes(opened.backend, new IdentityUnlocker(identity, password!, foreignEnvelopeBounds(config.keys.argon2)), {
      trustUnauthenticated: values['trust-unauthenticated'] ?? false,
    });
    scopes.addOpened('/', opened.unlocked);
    try {
      if (bar) {
        const totals = await countTree(opened.backend, '/');
        bar.setTotals(totals.files, totals.bytes);
      }
      const plaintext = plaintextFlag ?? opened.mount.plaintext ?? 'refuse';
      report = await verifyTree({ source: opened.backend, scopes, startPreOpened: true, progress: bar, plaintext }).finally(() => bar?.finish());
    } finally {
      scopes.wipe();
      await opened.close();
    }
  }
  for (const line of verifyLines(report)) io.stdout.write(line + '\n');
  return verifySucceeded(report) ? EXIT_OK : EXIT_INCOMPLETE;
}
