// `davcrypt restore`: after a lost gateway store, lists the user identities found in
// the keyrings of the configured encrypted mounts (with public-key fingerprints),
// asks for confirmation (or --yes), and writes them as accounts into the store.
// Never reads passwords; each restored user logs in with her old one.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadCommandConfig } from './config-notice.js';
import { davError } from '../errors.js';
import { createLogger } from '../logging.js';
import { closeStore, createStore } from '../store.js';
import { applyRestore, assertValidUserName, createUserServices, formatMountId, planRestore, type RestoreEntry } from '../users/index.js';

export const RESTORE_USAGE = `usage: davcrypt restore [--config FILE] [--user NAME]... [--yes]

After the gateway's store was lost: finds each user identity in the keyrings on the
backends of the configured encrypted mounts (every {user} home folder there, every
shared mount), lists it with the SHA-256 fingerprint of its public key, and, once
confirmed, writes it into the store as an account. Each user then logs in with her
old password. Run it before the first start on the new store (a start with no users
creates a fresh admin). The backend is not trusted: compare the list with the
fingerprints \`davcrypt user list\` printed before the loss, or name the users you
expect with --user. Existing accounts and users removed with \`user remove\` (their
marker is in the store) are never restored.

  --user NAME     restore only this user (repeat for more)
  --yes           do not ask; restore what is listed as ADOPT
  --config FILE   configuration file (default config/default.yaml)
  -h, --help      show this help

Without --yes it asks "restore N users? [y/N]" and reads the answer from stdin.
exit codes: 0 done (or nothing to restore); 1 not confirmed or an error; 2 usage`;

export interface RestoreIO {
  stdout: NodeJS.WritableStream;
  /** The confirmation prompt goes here (stderr). */
  output: NodeJS.WritableStream;
  input: NodeJS.ReadableStream;
}

/** Runs `davcrypt restore`; returns the exit code. Throws DavcryptErrors (DC_ERR_ABORTED when not confirmed). */
export async function runRestore(args: string[], io: RestoreIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      user: { type: 'string', short: 'u', multiple: true },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(RESTORE_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${positionals[0]}\n${RESTORE_USAGE}`);
  const only = (values.user ?? []).map((u) => assertValidUserName(u));
  // A lost store is the reason to run restore: it may create the new, empty one.
  const config = await loadCommandConfig(values.config ?? defaultConfig, io.output, { mayCreateStore: true });
  const store = await createStore(config.store);
  const services = createUserServices(config, store, createLogger({ level: 'warn', json: false }));
  try {
    const plan = await planRestore(config, services, only);
    for (const u of plan.unreadable) io.stdout.write(`UNREADABLE ${u.where}\t${u.error}\n`);
    for (const e of plan.entries) io.stdout.write(entryLine(e) + '\n');
    for (const name of only) {
      if (!plan.entries.some((e) => e.name === name)) io.stdout.write(`MISSING ${name}\tno keyring of her mounts holds user:${name}\n`);
    }
    const adopt = plan.entries.filter((e) => e.status === 'adopt');
    if (adopt.length === 0) {
      io.stdout.write('restore: nothing to restore\n');
      return 0;
    }
    const question = `restore ${adopt.length} user${adopt.length === 1 ? '' : 's'} (${adopt.map((e) => e.name).join(', ')})? [y/N] `;
    if (!values.yes && !(await confirm(question, io))) {
      throw davError('DC_ERR_ABORTED', 'not confirmed; nothing was changed');
    }
    const done = await applyRestore(services, plan);
    io.stdout.write(`restore: ${done.length} user${done.length === 1 ? '' : 's'} restored${done.length ? `: ${done.join(', ')}` : ''}; each logs in with her old password\n`);
    return 0;
  } finally {
    await services.close();
    await closeStore(store);
  }
}

function entryLine(e: RestoreEntry): string {
  const where = e.sources.map(formatMountId).join(', ');
  const differs = e.differing.length ? `; a different identity in ${e.differing.map(formatMountId).join(', ')} is ignored` : '';
  const head = e.status === 'adopt' ? 'ADOPT' : e.status === 'exists' || e.status === 'removed' ? 'SKIP' : 'REFUSED';
  return `${head} ${e.name}\tSHA-256 ${e.fingerprint}\t(${where}${differs})` + (e.reason ? `\t${e.reason}` : '');
}

/** One line from the input: y or yes (any case) confirms; anything else, or end of input, does not. */
function confirm(question: string, io: RestoreIO): Promise<boolean> {
  io.output.write(question);
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: io.input, terminal: false, crlfDelay: Infinity });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(/^\s*y(es)?\s*$/i.test(line));
    });
    rl.once('close', () => {
      (io.input as NodeJS.ReadableStream & { pause?(): void }).pause?.();
      if (!answered) resolve(false);
    });
    io.input.once('error', reject);
  });
}
