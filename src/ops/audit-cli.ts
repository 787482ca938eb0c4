// Audit lines for the user and key commands of the CLI (user add/passwd/remove, mount
// grant/revoke, key rotate/reencrypt, recovery init/cover/tag/restore/reset-password, master init):
// one line per run, written after the command ended, with its outcome. Only names come
// from the arguments (user names, mount paths, which opener was used); passwords come
// from stdin and never reach this module. Commands not listed here write nothing.
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { openAuditLog } from './audit.js';

/** command → subcommands that are audited. */
const AUDITED: Record<string, string[]> = {
  user: ['add', 'passwd', 'remove'],
  mount: ['grant', 'revoke'],
  key: ['rotate', 'reencrypt'],
  recovery: ['init', 'cover', 'tag', 'restore', 'reset-password'],
  master: ['init'],
  // restore has no subcommand: '' stands for the command itself.
  restore: [''],
};

export interface CliOutcome {
  /** Exit code of the command (0 = done). */
  exitCode: number;
  /** DC_ERR code when it threw. */
  code?: string;
}

/** The audit event and fields of a CLI run, or undefined when this run is not audited. Exported for tests. */
export function cliAuditEntry(command: string, args: string[]): { event: string; fields: Record<string, string | boolean | string[] | undefined>; config?: string } | undefined {
  const subs = AUDITED[command];
  if (!subs) return undefined;
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: false,
      options: {
        config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, user: { type: 'string', multiple: true },
        as: { type: 'string' }, recovery: { type: 'boolean' }, master: { type: 'boolean' }, force: { type: 'boolean' },
        reencrypt: { type: 'boolean' }, 'drop-old': { type: 'boolean' },
      },
    });
  } catch {
    return undefined;
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (command === 'restore') return { event: 'restore', fields: { users: Array.isArray(values.user) ? values.user.filter((u): u is string => typeof u === 'string') : undefined }, config: typeof values.config === 'string' ? values.config : undefined };
  const [sub, first, second] = positionals as string[];
  if (!sub || !subs.includes(sub)) return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const users = Array.isArray(values.user) ? values.user.filter((u): u is string => typeof u === 'string') : undefined;
  const opener = values.master ? 'master' : values.recovery ? 'recovery' : str(values.as) !== undefined ? `user:${str(values.as)}` : undefined;
  const fields: Record<string, string | boolean | string[] | undefined> = {};
  if (command === 'user') fields.user = first;
  else if (command === 'mount') Object.assign(fields, { mount: first, user: second, opener });
  else if (command === 'key') Object.assign(fields, { mount: first, user: users?.[0], opener, reencrypt: values.reencrypt === true || sub === 'reencrypt' || undefined, dropOld: values['drop-old'] === true || undefined });
  else if (command === 'recovery') Object.assign(fields, sub === 'reset-password' ? { user: first, force: values.force === true || undefined } : { users });
  return { event: `${command}.${sub}`, fields, config: str(values.config) };
}

/**
 * Writes the audit line of a finished CLI run when the command is audited and its config has
 * `audit`. Never throws: a config that does not load (the command has said why) writes nothing.
 */
export async function auditCliRun(command: string, args: string[], outcome: CliOutcome, defaultConfig: () => Promise<string>): Promise<void> {
  const entry = cliAuditEntry(command, args);
  if (!entry) return;
  try {
    const { loadConfig } = await import('../config/index.js');
    const config = await loadConfig(entry.config ?? (await defaultConfig()));
    if (!config.audit) return;
    const audit = openAuditLog(config.audit);
    audit.write(entry.event, {
      ...entry.fields,
      outcome: outcome.exitCode === 0 ? 'ok' : 'failed',
      code: outcome.exitCode === 0 ? undefined : outcome.code,
      exitCode: outcome.exitCode,
      via: 'cli',
      by: osUser(),
    });
    await audit.close();
  } catch (err) {
    // A config that does not load was reported by the command itself.
    if ((err as { code?: unknown }).code !== 'DC_ERR_CONFIG') process.stderr.write(`davcrypt: warning: audit line not written: ${(err as Error).message}\n`);
  }
}

function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * Runs a CLI command and then writes its audit line (see auditCliRun). Usage errors write
 * nothing (nothing was attempted). Returns or throws what the command does.
 */
export async function withCliAudit(command: string, args: string[], run: () => Promise<void | number>, defaultConfig: () => Promise<string>): Promise<void | number> {
  let result: void | number;
  try {
    result = await run();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'DC_ERR_USAGE' && !(typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      await auditCliRun(command, args, { exitCode: 1, code: typeof code === 'string' && code.startsWith('DC_ERR_') ? code : 'DC_ERR_INTERNAL' }, defaultConfig);
    }
    throw err;
  }
  await auditCliRun(command, args, { exitCode: result ?? 0 }, defaultConfig);
  return result;
}
