// First start: when the store has never had users, create `admin` with a random
// password (or DAVCRYPT_ADMIN_PASSWORD), print it once and keep it in
// <dataDir>/initial-admin-password (mode 0600), whatever the backend holds: a
// keyring planted there never becomes the admin (a lost store: davcrypt restore).
// Decides under the store mutex, so instances starting together create one admin.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Keyv from 'keyv';
import { davError } from '../errors.js';
import type { Logger } from '../logging.js';
import { sharedStoreMutex } from '../store-mutex.js';
import type { AccountService } from './accounts.js';

export const INITIAL_ADMIN = 'admin';
export const INITIAL_ADMIN_FILE = 'initial-admin-password';
const INITIALIZED = 'meta:initialized';
const INITIAL_ADMIN_MUTEX = 'initial-admin';
/** Long enough for another instance's argon2 run and home-keyring look-up. */
const INITIAL_ADMIN_WAIT_MS = 60_000;

export interface InitialAdminOptions {
  accounts: AccountService;
  store: Keyv;
  dataDir: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where the one-time password line goes (default stdout). */
  print?: (line: string) => void;
  /** auth.minPasswordLength (app.ts passes the config's, default 8): a shorter DAVCRYPT_ADMIN_PASSWORD is refused. Default: no minimum. */
  minPasswordLength?: number;
}

export type InitialAdminOutcome = 'created' | 'not-needed';

/**
 * Runs the first-start rule above, serialized with every process sharing the store. Throws
 * store/backend/file errors, DC_ERR_INTERNAL (store mutex not obtained within 60 s).
 */
export async function ensureInitialAdmin(options: InitialAdminOptions): Promise<InitialAdminOutcome> {
  if ((await options.accounts.records.names()).length > 0) return 'not-needed';
  // Check-then-create is decided again under the mutex: another instance may have won meanwhile.
  return sharedStoreMutex(options.store).run(INITIAL_ADMIN_MUTEX, () => decideInitialAdmin(options), { waitMs: INITIAL_ADMIN_WAIT_MS });
}

async function decideInitialAdmin(options: InitialAdminOptions): Promise<InitialAdminOutcome> {
  const { accounts, store, dataDir, logger } = options;
  if ((await accounts.records.names()).length > 0) return 'not-needed';
  if (await store.get(INITIALIZED)) {
    logger.warn('no user accounts; add one with: npx davcrypt user add NAME --config FILE');
    return 'not-needed';
  }
  const env = options.env ?? process.env;
  const given = env.DAVCRYPT_ADMIN_PASSWORD;
  const min = options.minPasswordLength ?? 1;
  if (given && [...given].length < min) {
    throw davError('DC_ERR_CONFIG', `DAVCRYPT_ADMIN_PASSWORD is too short: at least ${min} characters (auth.minPasswordLength); no user was created`);
  }
  const password = given && given.length > 0 ? given : randomBytes(18).toString('base64url');
  // The file first: an admin whose password nobody saw must never exist (read-only or foreign-owned data dir).
  const file = given ? undefined : await writePasswordFile(dataDir, password);
  await accounts.add(INITIAL_ADMIN, password, { adopt: false });
  await store.set(INITIALIZED, new Date().toISOString());
  if (!file) {
    logger.info('created user admin with the password from DAVCRYPT_ADMIN_PASSWORD');
    return 'created';
  }
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
  print(`davcrypt: created user admin with password ${password} (also in ${file}; change it with: npx davcrypt user passwd admin)`);
  logger.info('created user admin; its password was printed once and saved', { file });
  return 'created';
}

/** Writes <dataDir>/initial-admin-password (0600). Throws DC_ERR_CONFIG naming the file and the fix. */
async function writePasswordFile(dataDir: string, password: string): Promise<string> {
  const file = join(dataDir, INITIAL_ADMIN_FILE);
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, password + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
  } catch (err) {
    throw davError('DC_ERR_CONFIG',
      `dataDir: cannot write the initial admin password to ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
      `make ${dataDir} writable by this user (uid ${process.getuid?.() ?? '?'}), or set DAVCRYPT_ADMIN_PASSWORD; no account was created`,
      { cause: err, details: { path: file } });
  }
  return file;
}
