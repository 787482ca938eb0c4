// `davcrypt recover`: the standalone offline decryptor. Needs only a copy of the
// storage (folder or WebDAV URL) and one identity's password (or the master key
// file); never reads the gateway's config, data dir or store, and never writes to
// the storage.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isSameOrInside, type Backend } from '../backends/index.js';
import { davError, isDavcryptError } from '../errors.js';
import { ARGON2_LIMITS, type Argon2Bounds } from '../crypto/index.js';
import { IdentityUnlocker, OFFLINE_ENVELOPE_BOUNDS, identityFromFlags, openMasterKeyFile, type KeyUnlocker } from '../tools/identity-keys.js';
import { recoverSucceeded, recoverTree } from '../tools/recover.js';
import { EXIT_INCOMPLETE, EXIT_OK, recoverLines } from '../tools/report-text.js';
import { isUrlSource, mountRootAbove, openSource, type SourceCredentials } from '../tools/source.js';
import { countTree } from '../tools/walk.js';
import { readPasswords, type PasswordIO } from './password.js';
import { createProgressBar, type ProgressStream } from './progress.js';

export const RECOVER_USAGE = `usage: davcrypt recover --from DIR|URL --out DIR (--user NAME | --recovery | --master-key FILE) [options]

Decrypts a copy of the storage into a local folder, offline: needs only the storage
(a folder, or the URL of a WebDAV share: the mount root holding .davcrypt/keyring.json)
and the password of one identity, or the master key file (keys.mode: master). Never
needs the gateway's config, data or store, and never writes to the storage. The
password is read from stdin (one line), or prompted without echo on a terminal.

  --from DIR|URL              the storage copy (mount root)
  --out DIR                   where plaintext goes (created; same relative paths;
                              existing files there are overwritten)
  --user NAME                 open the keyring as user NAME (her login password)
  --recovery                  open it with the recovery identity's password
  --master-key FILE           open it with the master key file (keys.mode: master;
                              no password; the file must be mode 0600)
  --backend-user U            WebDAV user name for a --from URL
  --backend-password-env VAR  read the WebDAV password from environment variable VAR
  --skip-bad-segments         salvage damaged files: write every segment that verifies
                              at its offset, zero-fill the damaged ones, and list the
                              damaged plaintext byte ranges on stdout and in
                              <file>.davcrypt-damage.txt beside the file
  --trust-unauthenticated     also decrypt files whose key opens but carries no valid
                              keyring tag of this identity (a keyring from before
                              format 2, or a key the storage planted); still listed
  --argon2-max-memory KIB     refuse envelopes needing more argon2 memory than this
                              (default 262144 = 4x the default; checked before any work)
  -h, --help                  show this help

Only keys the identity's own keyring tag vouches for are used (FORMAT.md §3.6): a
file under any other key is skipped and listed as UNAUTHENTICATED <path> <key id>.
Plaintext files (written before encryption was on) are copied as they are. Nested
mounts (a subfolder with its own .davcrypt/keyring.json) are opened with the same
identity when it has a wrap there. Every file that could not be recovered is listed
on stdout as FAILED <path> <code> <reason>.

exit codes: 0 everything recovered; 1 could not start (wrong password, no keyring,
storage unreachable) or interrupted; 2 usage; 3 finished, but files failed, were
salvaged with holes, or were skipped for an unauthenticated key`;

export interface ToolIO extends PasswordIO {
  stdout: NodeJS.WritableStream;
  /** Progress bar target (drawn only when it is a terminal). */
  stderr: ProgressStream;
  env?: NodeJS.ProcessEnv;
}

/** Opens --from with --backend-user / --backend-password-env. Throws DC_ERR_USAGE, backend errors. */
export async function openSourceFromFlags(
  from: string,
  backendUser: string | undefined,
  passwordEnv: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Backend> {
  if (!isUrlSource(from) && (backendUser !== undefined || passwordEnv !== undefined)) {
    throw davError('DC_ERR_USAGE', '--backend-user and --backend-password-env apply only to a --from URL');
  }
  let password: string | undefined;
  if (passwordEnv !== undefined) {
    password = env[passwordEnv];
    if (password === undefined) throw davError('DC_ERR_USAGE', `environment variable ${passwordEnv} is not set`);
  }
  return openSource(from, { username: backendUser, password });
}

export const SOURCE_OPTIONS = {
  from: { type: 'string' },
  user: { type: 'string' },
  recovery: { type: 'boolean' },
  'master-key': { type: 'string' },
  'backend-user': { type: 'string' },
  'backend-password-env': { type: 'string' },
  'trust-unauthenticated': { type: 'boolean' },
  'argon2-max-memory': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Envelope bounds for keyrings read offline: --argon2-max-memory KIB raises or lowers m. Throws DC_ERR_USAGE. */
export function offlineBounds(maxMemory: string | undefined): Argon2Bounds {
  if (maxMemory === undefined) return OFFLINE_ENVELOPE_BOUNDS;
  const m = Number(maxMemory);
  if (!/^\d+$/.test(maxMemory) || !Number.isSafeInteger(m) || m < 8 || m > ARGON2_LIMITS.maxM) {
    throw davError('DC_ERR_USAGE', `--argon2-max-memory must be a number of KiB in 8..${ARGON2_LIMITS.maxM}`);
  }
  return { ...OFFLINE_ENVELOPE_BOUNDS, maxM: m };
}

/**
 * The identity's unlocker from --user / --recovery / --master-key: reads the master key file, or
 * the password (stdin or prompt). Throws DC_ERR_USAGE, DC_ERR_CONFIG (key file), password I/O errors.
 */
export async function unlockerFromFlags(
  values: { user?: string; recovery?: boolean; 'master-key'?: string; 'argon2-max-memory'?: string },
  io: PasswordIO,
): Promise<KeyUnlocker> {
  const identity = identityFromFlags(values.user, values.recovery, values['master-key']);
  const bounds = offlineBounds(values['argon2-max-memory']);
  if (values['master-key'] !== undefined) return openMasterKeyFile(values['master-key']);
  const [password] = await readPasswords([{ label: `password of ${identity}` }], io);
  return new IdentityUnlocker(identity, password!, bounds);
}

/** --backend-user / --backend-password-env as credentials (the variable was checked when the source opened). */
export function sourceCredentials(values: { 'backend-user'?: string; 'backend-password-env'?: string }, env: NodeJS.ProcessEnv): SourceCredentials {
  const name = values['backend-password-env'];
  return { username: values['backend-user'], password: name === undefined ? undefined : env[name] };
}

/** A "no keyring here" error for a --from below a mount root names that root (folder or URL). */
export async function withMountRootHint(err: unknown, from: string, creds: SourceCredentials = {}): Promise<unknown> {
  if (!isDavcryptError(err, 'DC_ERR_NOT_FOUND') || err.details.noKeyring !== true) return err;
  const root = await mountRootAbove(from, creds);
  if (!root) return err;
  return davError('DC_ERR_NOT_FOUND', `${err.message}. The mount root above it is ${root}: use --from ${root}`, { cause: err, details: err.details });
}

/** Runs `davcrypt recover`; returns the exit code. Throws DavcryptErrors when it cannot start. */
export async function runRecover(args: string[], io: ToolIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...SOURCE_OPTIONS, out: { type: 'string' }, 'skip-bad-segments': { type: 'boolean' } },
  });
  if (values.help) {
    io.stdout.write(RECOVER_USAGE + '\n');
    return EXIT_OK;
  }
  if (positionals.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${positionals[0]}\n${RECOVER_USAGE}`);
  if (!values.from || !values.out) throw davError('DC_ERR_USAGE', `recover needs --from and --out\n${RECOVER_USAGE}`);
  identityFromFlags(values.user, values.recovery, values['master-key']);
  offlineBounds(values['argon2-max-memory']);
  if (!isUrlSource(values.from) && isSameOrInside(resolve(values.from), resolve(values.out))) {
    throw davError('DC_ERR_USAGE', '--out must not be the --from folder or inside it');
  }
  io.output.write(`davcrypt: reading storage ${values.from} (no config or store needed)\n`);
  const source = await openSourceFromFlags(values.from, values['backend-user'], values['backend-password-env'], io.env ?? process.env);
  const bar = createProgressBar('recover', io.stderr);
  try {
    const unlocker = await unlockerFromFlags(values, io);
    try {
      if (bar) {
        const totals = await countTree(source, '/');
        bar.setTotals(totals.files, totals.bytes);
      }
      const report = await recoverTree({
        source,
        outDir: values.out,
        unlocker,
        skipBadSegments: values['skip-bad-segments'] ?? false,
        trustUnauthenticated: values['trust-unauthenticated'] ?? false,
        progress: bar,
      })
        .catch(async (err: unknown) => {
          throw await withMountRootHint(err, values.from!, sourceCredentials(values, io.env ?? process.env));
        })
        .finally(() => bar?.finish());
      for (const line of recoverLines(report)) io.stdout.write(line + '\n');
      return recoverSucceeded(report) ? EXIT_OK : EXIT_INCOMPLETE;
    } finally {
      unlocker.wipe();
    }
  } finally {
    await source.close();
  }
}
