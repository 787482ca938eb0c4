// `davcrypt user add|passwd|remove|list`: account management against the
// configured store and backends (works while the gateway runs: a running
// gateway notices passwd/remove within auth.recheckSeconds).
import { parseArgs } from 'node:util';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { davError, isDavcryptError } from '../errors.js';
import { createLogger } from '../logging.js';
import { closeStore, createStore } from '../store.js';
import { INITIAL_ADMIN, INITIAL_ADMIN_FILE, assertValidUserName, createUserServices, publicKeyFingerprint } from '../users/index.js';
import { loadCommandConfig } from './config-notice.js';
import { assertNewPassword, readPasswords, type PasswordIO } from './password.js';

export const USER_USAGE = `usage: davcrypt user <add|passwd|remove|list> [NAME] [--config FILE]

  user add NAME      create an account; password from stdin (one line) or prompted.
                     If NAME's identity is already in her home keyring on the backend
                     (lost store), the old password adopts it; another password is refused.
  user passwd NAME   change a password: current then new password (two stdin lines,
                     or prompted). Rewrites only the password envelope.
  user remove NAME   remove the account; files and keyrings stay on the backend.
  user list          list accounts, each with the SHA-256 fingerprint of her public key
                     (keep a copy: davcrypt restore shows the same fingerprints).

New passwords need auth.minPasswordLength characters (default 8). Every command prints
the config, store and data folder it uses; of these only \`user add\` may start a new store.

options:
  --config FILE      configuration file (default config/default.yaml)
  -h, --help         show this help`;

export interface CliIO extends PasswordIO {
  stdout: NodeJS.WritableStream;
}

/** Runs one `user` subcommand. Throws DavcryptErrors (DC_ERR_USAGE for wrong arguments). */
export async function runUser(args: string[], io: CliIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout.write(USER_USAGE + '\n');
    return 0;
  }
  const [action, name, ...rest] = positionals;
  if (action === undefined) {
    io.stdout.write(USER_USAGE + '\n');
    return 2;
  }
  const needsName = action === 'add' || action === 'passwd' || action === 'remove';
  if (!action || !(needsName || action === 'list')) throw davError('DC_ERR_USAGE', `unknown user command ${action ?? '(none)'}\n${USER_USAGE}`);
  if (needsName && !name) throw davError('DC_ERR_USAGE', `user ${action} needs a NAME\n${USER_USAGE}`);
  if (rest.length > 0 || (action === 'list' && name)) throw davError('DC_ERR_USAGE', `unexpected argument ${rest[0] ?? name}\n${USER_USAGE}`);
  if (needsName) assertValidUserName(name!);

  const config = await loadCommandConfig(values.config ?? defaultConfig, io.output, { mayCreateStore: action === 'add' });
  const logger = createLogger({ level: 'warn', json: false });
  // Read passwords before touching the store, so a wrong invocation changes nothing.
  const passwords =
    action === 'add'
      ? await readPasswords([{ label: `password for ${name}`, confirm: true }], io)
      : action === 'passwd'
        ? await readPasswords([{ label: `current password of ${name}` }, { label: `new password for ${name}`, confirm: true }], io)
        : [];
  const store = await createStore(config.store);
  const services = createUserServices(config, store, logger);
  try {
    if (action === 'add') {
      // An identity already in her keyring (lost store) is taken over with its old password, whatever its length.
      if (!(await services.records.get(name!)) && !(await services.accounts.findExistingIdentity(name!))) assertNewPassword(passwords[0]!, config.auth.minPasswordLength, 'the password');
      const { adopted } = await services.accounts.add(name!, passwords[0]!);
      io.stdout.write(
        adopted
          ? `user ${name} added: adopted the identity already in her home keyring (her files stay readable)\n`
          : `user ${name} added\n`,
      );
    } else if (action === 'passwd') {
      assertNewPassword(passwords[1]!, config.auth.minPasswordLength);
      const rewritten = await services.accounts.passwd(name!, passwords[0]!, passwords[1]!).catch((err: unknown) => {
        if (!isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) throw err;
        throw davError('DC_ERR_WRONG_PASSWORD', `the current password of ${name} is wrong; nothing was changed`, { cause: err });
      });
      io.stdout.write(`password of ${name} changed (${rewritten.length} keyring${rewritten.length === 1 ? '' : 's'} rewritten)\n`);
      await dropStaleInitialPassword(config.dataDir, name!, io.stdout);
    } else if (action === 'remove') {
      await services.accounts.remove(name!);
      const homes = services.backends.mountsFor(name!).filter((m) => m.perUser).map((m) => services.backends.location(m, name!));
      io.stdout.write(
        `user ${name} removed; her files and keyrings were kept` + (homes.length ? ` (in ${homes.join(', ')})` : '') + '\n',
      );
    } else {
      for (const r of await services.accounts.list()) io.stdout.write(`${r.name}\tcreated ${r.created}\tSHA-256 ${publicKeyFingerprint(r.publicKey)}\n`);
    }
  } finally {
    await services.close();
    await closeStore(store);
  }
  return 0;
}

/**
 * After admin's password changed (passwd, recovery reset-password): the first-start password file
 * <dataDir>/initial-admin-password no longer opens anything; remove it so nobody trusts it.
 */
export async function dropStaleInitialPassword(dataDir: string, name: string, out: NodeJS.WritableStream): Promise<void> {
  if (name !== INITIAL_ADMIN) return;
  const file = join(dataDir, INITIAL_ADMIN_FILE);
  try {
    await rm(file);
    out.write(`removed ${file} (it held the first-start password, no longer valid)\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
