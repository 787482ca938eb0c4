// `davcrypt recovery init|reset-password`: the admin recovery identity. Passwords
// come from stdin (one per line, in the order the help names) or are prompted
// without echo on a terminal. Works while the gateway runs (same store): running
// gateways drop cached logins within auth.recheckSeconds. Also holds the small
// helpers the other key-custody commands (mount, key) share.
import { parseArgs } from 'node:util';
import { loadCommandConfig } from './config-notice.js';
import type { Config } from '../config/types.js';
import { davError } from '../errors.js';
import { createLogger } from '../logging.js';
import { assertValidUserName, formatMountId, openCustody, recoveryCover, recoveryInit, recoveryRestore, recoveryTag, resetPassword, type CustodyContext, type MountId, type Opener } from '../users/index.js';
import type { MasterKey } from '../keys/index.js';
import { assertNewPassword, readPasswords, type PasswordIO } from './password.js';
import { createProgressBar, type ProgressStream } from './progress.js';
import { dropStaleInitialPassword } from './user.js';

export const RECOVERY_USAGE = `usage: davcrypt recovery <init|cover|tag|restore|reset-password> [USER] [options]

  recovery init [--user NAME]... [--config FILE]
      Creates the admin recovery identity (an X25519 key sealed under the recovery
      password) and puts it into every keyring the gateway store knows (store and
      backend copy). From then on every new mount key is also wrapped to it, and
      the wrap tagged with the recovery tag key left in the store (so that
      recover --recovery finds the key authenticated; see SECURITY.md for what a
      stolen store then allows). Prints the identity's fingerprint: note it.
      Existing keys are wrapped to it when the CLI can open them: give --user NAME
      (repeatable) with that user's password to cover her mounts now; every other
      keyring is covered by the running gateway the next time one of its members
      logs in (the gateway adds the missing recovery wraps then). Refuses when a
      recovery identity exists. stdin: the recovery password, then one line per
      --user, in order.

  recovery cover --user NAME [--user NAME]... [--config FILE]
      After init: wraps to the recovery identity every key these users hold (their
      passwords on stdin, one line each, in order; the recovery password is not
      needed). Same effect as each of them logging in to the gateway.

  recovery tag [--config FILE]
      For a recovery identity created before keyring format 2: opens it with the
      recovery password (stdin), leaves its tag key in the store, and tags every
      recovery wrap of every keyring the store holds. Until then, files under keys
      made before the upgrade are skipped by recover --recovery.

  recovery restore [--user NAME]... [--config FILE]
      After a lost store: puts back the recovery identity that the recovery password
      (stdin) opens, from a backend keyring of a configured mount: the shared mounts,
      the homes of the users in the store, and the homes of each --user NAME. Prints
      its fingerprint (compare it with the one recovery init printed). Nothing else
      ever takes a recovery identity from the backend.

  recovery reset-password USER [--force] [--config FILE]
      For a user who forgot her password: opens the recovery identity, unwraps her
      mount keys (home and shared) through their recovery wraps, gives her a NEW
      identity sealed with the new password and re-wraps the keys to it (store and
      backend keyrings). No file is touched. Refuses, changing nothing, when a key of
      her home has no recovery wrap (she never logged in since recovery init); --force
      accepts losing those files (a home whose current key is lost gets a new one).
      After a lost store, run recovery restore first: her keys are then taken from
      the backend keyrings, each only when its recovery tag verifies. stdin: the
      recovery password, then her new password.

options:
  --config FILE      configuration file (default config/default.yaml)
  -h, --help         show this help`;

/** I/O of the key-custody commands: passwords (stdin or prompt), report lines, progress (stderr). */
export interface KeyCliIO extends PasswordIO {
  stdout: NodeJS.WritableStream;
  /** Progress bar target; drawn only when it is a terminal. */
  stderr?: ProgressStream;
}

/** Loads the config, opens store and services, runs `fn`, closes everything. */
export async function withCustody<T>(
  configPath: string,
  fn: (ctx: CustodyContext & { master?: MasterKey }) => Promise<T>,
  withMaster = false,
  notice: { write(text: string): unknown } = process.stderr,
  mayCreateStore = false,
): Promise<T> {
  const config: Config = await loadCommandConfig(configPath, notice, { mayCreateStore });
  const ctx = await openCustody(config, { logger: createLogger({ level: 'warn', json: false }), withMaster });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** Reads the opener's password for --as NAME / --recovery / --master. Throws DC_ERR_USAGE unless exactly one is given. */
export async function openerFromFlags(
  values: { as?: string; recovery?: boolean; master?: boolean },
  io: PasswordIO,
  required: boolean,
): Promise<{ opener?: (master?: MasterKey) => Opener; given: boolean }> {
  const count = (values.as !== undefined ? 1 : 0) + (values.recovery ? 1 : 0) + (values.master ? 1 : 0);
  if (count > 1) throw davError('DC_ERR_USAGE', 'give only one of --as NAME, --recovery or --master');
  if (count === 0) {
    if (required) throw davError('DC_ERR_USAGE', 'give --as NAME (a member\'s password), --recovery (the recovery password) or --master (the master key file)');
    return { given: false };
  }
  if (values.master) {
    return {
      given: true,
      opener: (master) => {
        if (!master) throw davError('DC_ERR_CONFIG', 'no master key file loaded');
        return { kind: 'master', key: master };
      },
    };
  }
  if (values.as !== undefined) {
    const name = assertValidUserName(values.as);
    const [password] = await readPasswords([{ label: `password of ${name}` }], io);
    return { given: true, opener: () => ({ kind: 'user', name, password: password! }) };
  }
  const [password] = await readPasswords([{ label: 'recovery password' }], io);
  return { given: true, opener: () => ({ kind: 'recovery', password: password! }) };
}

/** Runs one `recovery` subcommand; returns the exit code. Throws DavcryptErrors. */
export async function runRecovery(args: string[], io: KeyCliIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      user: { type: 'string', multiple: true },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(RECOVERY_USAGE + '\n');
    return 0;
  }
  const [action, name, ...rest] = positionals;
  if (action === undefined) {
    io.stdout.write(RECOVERY_USAGE + '\n');
    return 2;
  }
  if (action === 'init' || action === 'cover') {
    if (name !== undefined || values.force) throw davError('DC_ERR_USAGE', `recovery ${action} takes no USER and no --force\n${RECOVERY_USAGE}`);
    const users = (values.user ?? []).map((u) => assertValidUserName(u));
    if (new Set(users).size !== users.length) throw davError('DC_ERR_USAGE', 'a --user is given twice');
    if (action === 'cover' && users.length === 0) throw davError('DC_ERR_USAGE', `recovery cover needs at least one --user NAME\n${RECOVERY_USAGE}`);
    const prompts = users.map((u) => ({ label: `password of ${u}` }));
    const passwords = await readPasswords(action === 'init' ? [{ label: 'new recovery password', confirm: true }, ...prompts] : prompts, io);
    const userPasswords = action === 'init' ? passwords.slice(1) : passwords;
    return withCustody(values.config ?? defaultConfig, async (ctx) => {
      if (action === 'init') assertNewPassword(passwords[0]!, ctx.config.auth.minPasswordLength, 'the recovery password');
      const bar = createProgressBar(`recovery ${action}`, io.stderr ?? { isTTY: false, write: () => true });
      const onKeyring = (mountId: MountId) => {
        bar?.fileStarted?.(formatMountId(mountId), 0);
        bar?.fileDone?.(formatMountId(mountId));
      };
      const withUsers = users.map((u, i) => ({ name: u, password: userPasswords[i]! }));
      const report = await (action === 'init' ? recoveryInit(ctx, passwords[0]!, withUsers, onKeyring) : recoveryCover(ctx, withUsers, onKeyring)).finally(() => bar?.finish());
      const pending = report.keyrings.filter((k) => k.covered < k.keys);
      const n = report.keyrings.length;
      io.stdout.write(`${action === 'init' ? 'recovery identity created; ' : ''}${n} keyring${n === 1 ? '' : 's'} checked\n`);
      if (action === 'init') io.stdout.write(`recovery identity fingerprint: ${report.fingerprint} (note it: recovery restore prints it too)\n`);
      for (const k of report.keyrings) io.stdout.write(`${k.covered === k.keys ? 'COVERED' : 'PENDING'}\t${formatMountId(k.mountId)}\t${k.covered}/${k.keys} keys wrapped to recovery\n`);
      if (pending.length > 0) {
        io.stdout.write(
          `${pending.length} keyring${pending.length === 1 ? ' is' : 's are'} PENDING: the running gateway wraps their keys to recovery the next time one of ` +
            `their members logs in, or now with: npx davcrypt recovery cover --user NAME\n`,
        );
      }
      return 0;
    }, false, io.output);
  }
  if (action === 'tag' || action === 'restore') {
    if (name !== undefined || values.force) throw davError('DC_ERR_USAGE', `recovery ${action} takes no USER and no --force\n${RECOVERY_USAGE}`);
    if (action === 'tag' && values.user) throw davError('DC_ERR_USAGE', `recovery tag takes no --user\n${RECOVERY_USAGE}`);
    const users = (values.user ?? []).map((u) => assertValidUserName(u));
    const [password] = await readPasswords([{ label: 'recovery password' }], io);
    return withCustody(values.config ?? defaultConfig, async (ctx) => {
      if (action === 'restore') {
        const report = await recoveryRestore(ctx, password!, users);
        io.stdout.write(`recovery identity restored from ${formatMountId(report.foundIn)}; fingerprint: ${report.fingerprint}\n`);
        return 0;
      }
      const report = await recoveryTag(ctx, password!);
      const tagged = report.keyrings.reduce((n, k) => n + k.tagged, 0);
      io.stdout.write(`recovery tag key stored (fingerprint ${report.fingerprint}); ${tagged} recovery wrap${tagged === 1 ? '' : 's'} tagged in ${report.keyrings.length} keyring${report.keyrings.length === 1 ? '' : 's'}\n`);
      for (const k of report.keyrings) io.stdout.write(`TAGGED\t${formatMountId(k.mountId)}\t${k.tagged}\n`);
      return 0;
    });
  }
  if (action === 'reset-password') {
    if (!name) throw davError('DC_ERR_USAGE', `recovery reset-password needs a USER\n${RECOVERY_USAGE}`);
    if (values.user) throw davError('DC_ERR_USAGE', 'recovery reset-password takes the user as USER, not --user');
    if (rest.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${rest[0]}\n${RECOVERY_USAGE}`);
    assertValidUserName(name);
    const [recoveryPassword, newPassword] = await readPasswords([{ label: 'recovery password' }, { label: `new password for ${name}`, confirm: true }], io);
    return withCustody(values.config ?? defaultConfig, async (ctx) => {
      assertNewPassword(newPassword!, ctx.config.auth.minPasswordLength);
      const report = await resetPassword(ctx, name, recoveryPassword!, newPassword!, { force: values.force ?? false });
      await dropStaleInitialPassword(ctx.config.dataDir, name, io.stdout);
      io.stdout.write(`password of ${name} reset${report.recordCreated ? ' (account re-created: the store had no record of her)' : ''}\n`);
      for (const k of report.keyrings) {
        const notes = [`${k.rewrapped} key${k.rewrapped === 1 ? '' : 's'} re-wrapped`];
        if (k.lost.length > 0) notes.push(`LOST ${k.lost.join(',')} (no recovery wrap${k.mountId.kind === 'shared' ? '; another member\'s next login re-wraps what she holds' : ''})`);
        if (k.newCurrent) notes.push(`new current key ${k.newCurrent}`);
        io.stdout.write(`${formatMountId(k.mountId)}\t${notes.join('; ')}\n`);
      }
      return report.keyrings.some((k) => k.lost.length > 0) ? 3 : 0;
    }, false, io.output, true); // works after a lost store: the keyrings on the backend are enough
  }
  throw davError('DC_ERR_USAGE', `unknown recovery command ${action ?? '(none)'}\n${RECOVERY_USAGE}`);
}
