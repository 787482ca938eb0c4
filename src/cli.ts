// davcrypt command line: parses the command, runs it, prints errors as
// `davcrypt: <code>: <message>` with exit code 1 (2 for usage errors).
// Commands live in src/cli/; add new ones to COMMANDS below.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { davError, isDavcryptError, toDavcryptError } from './errors.js';

const USAGE = `usage: davcrypt <command> [options]

commands:
  serve              run the WebDAV gateway
  user               add, passwd, remove, list accounts
  restore            after a lost store: re-create accounts from the backend keyrings (asks first)
  recovery           admin recovery identity: init, cover, tag, restore, reset-password (forgotten password)
  mount              grant or revoke a user's access to a shared mount's keys
  key                rotate a mount's key; re-encrypt old files to the current key
  master             create the master key file (keys.mode: master)
  recover            decrypt a copy of the storage offline (needs only it and a password)
  verify             check every encrypted file's integrity (tampered, truncated)
  encrypt-all        encrypt a mount's existing plaintext files in place
  decrypt-all        decrypt a mount's files back to plaintext in place
  dropbox            connect a Dropbox mount to a Dropbox account (dropbox login)
  check-config       validate a config and probe its store and backends (exit 0 = all ok)

options:
  -h, --help         show help (also after a command: davcrypt user --help)
  -V, --version      print the version

Run \`davcrypt <command> --help\` for a command's options.`;

/** Resolves to an exit code, or to nothing for 0. */
type Command = (args: string[]) => Promise<void | number>;
const toolIO = () => ({ stdout: process.stdout, stderr: process.stderr, input: process.stdin, output: process.stderr, env: process.env });
const keyIO = () => ({ stdout: process.stdout, stderr: process.stderr, input: process.stdin, output: process.stderr });
/** Aborts re-encryption cleanly on Ctrl-C (the file in flight stays as it was); exits anyway after 10 s. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(davError('DC_ERR_ABORTED', 'interrupted'));
    setTimeout(() => process.exit(130), 10_000).unref();
  });
  return controller.signal;
}
const defaultConfigPath = async () => (await import('./config/index.js')).DEFAULT_CONFIG_PATH;

// Loaded on demand, so `--version` and `user list` do not load the WebDAV server.
const COMMANDS: Record<string, Command> = {
  serve: async (args) => {
    const [{ runServe }, { DEFAULT_CONFIG_PATH }] = await Promise.all([import('./cli/serve.js'), import('./config/index.js')]);
    await runServe(args, process.stdout, DEFAULT_CONFIG_PATH);
  },
  user: async (args) => {
    const [{ runUser }, { DEFAULT_CONFIG_PATH }] = await Promise.all([import('./cli/user.js'), import('./config/index.js')]);
    return runUser(args, { stdout: process.stdout, input: process.stdin, output: process.stderr }, DEFAULT_CONFIG_PATH);
  },
  restore: async (args) => (await import('./cli/restore.js')).runRestore(args, { stdout: process.stdout, output: process.stderr, input: process.stdin }, await defaultConfigPath()),
  recovery: async (args) => (await import('./cli/recovery.js')).runRecovery(args, keyIO(), await defaultConfigPath()),
  mount: async (args) => (await import('./cli/mount.js')).runMount(args, keyIO(), await defaultConfigPath()),
  key: async (args) => (await import('./cli/key.js')).runKey(args, { ...keyIO(), signal: interruptSignal() }, await defaultConfigPath()),
  master: async (args) => (await import('./cli/key.js')).runMaster(args, { stdout: process.stdout }, await defaultConfigPath()),
  recover: async (args) => (await import('./cli/recover.js')).runRecover(args, toolIO()),
  verify: async (args) => (await import('./cli/verify.js')).runVerify(args, toolIO(), await defaultConfigPath()),
  'encrypt-all': async (args) => (await import('./cli/migrate.js')).runMigrate('encrypt', args, toolIO(), await defaultConfigPath()),
  'decrypt-all': async (args) => (await import('./cli/migrate.js')).runMigrate('decrypt', args, toolIO(), await defaultConfigPath()),
  dropbox: async (args) => (await import('./cli/dropbox.js')).runDropbox(args, { stdout: process.stdout, input: process.stdin }, await defaultConfigPath()),
  'check-config': async (args) => (await import('./cli/check-config.js')).runCheckConfig(args, { stdout: process.stdout }, await defaultConfigPath()),
};

/** ops: user and key commands write an audit line when their config has `audit` (src/ops/audit-cli.ts). */
const AUDITED_COMMANDS = new Set(['user', 'mount', 'key', 'recovery', 'master', 'restore']);

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI; returns the exit code (never calls process.exit itself). */
export async function main(argv: string[]): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first.startsWith('-')) {
      const { values } = parseArgs({
        args: argv,
        options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
      });
      if (values.version) {
        process.stdout.write(`davcrypt ${version()}\n`);
        return 0;
      }
      process.stdout.write(USAGE + '\n');
      return values.help ? 0 : 2;
    }
    const command = COMMANDS[first];
    if (!command) {
      process.stderr.write(`davcrypt: DC_ERR_USAGE: unknown command ${first}\n${USAGE}\n`);
      return 2;
    }
    if (AUDITED_COMMANDS.has(first)) return (await (await import('./ops/index.js')).withCliAudit(first, rest, () => command(rest), defaultConfigPath)) ?? 0;
    return (await command(rest)) ?? 0;
  } catch (err) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options.
    const parseCode = (err as NodeJS.ErrnoException).code;
    if (typeof parseCode === 'string' && parseCode.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`davcrypt: DC_ERR_USAGE: ${(err as Error).message}\n`);
      return 2;
    }
    const e = toDavcryptError(err);
    process.stderr.write(`davcrypt: ${e.code}: ${e.message}\n`);
    return isDavcryptError(err, 'DC_ERR_USAGE') ? 2 : 1;
  }
}

// cli.ts under tsx, cli.js when compiled (`node dist/src/cli.js`), davcrypt(.js) through bin/.
const isEntry = process.argv[1] !== undefined && /(?:^|[/\\])(?:cli\.[jt]s|davcrypt(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // Everything is closed by now; if a stray handle still holds the loop, do not hang forever.
  setTimeout(() => process.exit(code), 3000).unref();
}
