// The audit log: security events as JSON lines, one object per line, in a file
// (appended, mode 0600) or on stdout, through a winston logger of its own (never
// mixed with the access log). The gateway writes logins, failed and throttled
// logins, integrity failures, its own key operations and config reloads (from
// src/events.ts); the CLI writes user and key commands (audit-cli.ts).
// Fields are documented in docs/OPERATIONS.md; never passwords, keys or headers.
import { createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';
import type { AuditConfig } from '../config/types.js';
import { davError } from '../errors.js';
import { channels, onEvent, type AccountEvent, type ConfigReloadEvent, type IntegrityEvent, type KeyEvent, type LoginEvent, type ShareEvent } from '../events.js';

const MESSAGE = Symbol.for('message');

/** Fields of one audit line beside `time` and `event`. Values must never be secrets. */
export type AuditFields = Record<string, string | number | boolean | string[] | undefined>;

export interface AuditLog {
  /** Writes one line: {"time":..., "event":..., ...fields}. */
  write(event: string, fields: AuditFields): void;
  /** Flushes and closes the file (stdout stays open). */
  close(): Promise<void>;
}

/** Opens the audit log. Throws DC_ERR_CONFIG when the file cannot be opened for appending: better no start than no trail. */
export function openAuditLog(config: AuditConfig, stdout: NodeJS.WritableStream = process.stdout): AuditLog {
  let file: WriteStream | undefined;
  if ('file' in config) {
    let fd: number;
    try {
      mkdirSync(dirname(config.file), { recursive: true, mode: 0o750 });
      fd = openSync(config.file, 'a', 0o600);
    } catch (err) {
      throw davError('DC_ERR_CONFIG', `audit.file: cannot open ${config.file} for appending: ${(err as Error).message}`, { cause: err });
    }
    file = createWriteStream(config.file, { fd });
    // A failing audit file must not take the gateway down; winston reports it on stderr.
    file.on('error', (err) => process.stderr.write(`davcrypt: audit log ${config.file}: ${err.message}\n`));
  }
  const logger = winston.createLogger({
    level: 'info',
    // The line is built here so the field order is fixed: time, event, then the fields.
    format: winston.format((info) => {
      const { level: _level, message, [MESSAGE]: _m, ...fields } = info as Record<string | symbol, unknown>;
      (info as Record<symbol, unknown>)[MESSAGE] = JSON.stringify({ time: new Date().toISOString(), event: message, ...dropUndefined(fields as Record<string, unknown>) });
      return info;
    })(),
    transports: [new winston.transports.Stream({ stream: file ?? stdout })],
  });
  let closed = false;
  return {
    write(event, fields) {
      if (!closed) logger.info(event, fields);
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        logger.once('finish', () => resolve());
        logger.end();
      });
      if (file) await new Promise<void>((resolve) => file!.end(() => resolve()));
    },
  };
}

/** At most one login.throttled line per user and address in this time. */
export const THROTTLE_LINE_MS = 10_000;

/** A failed login's user name is whatever the client typed: bounded, so nobody can flood a line. */
function clip(name: string): string {
  return name.length > 128 ? `${name.slice(0, 128)}…` : name;
}

function dropUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** Writes the gateway's events (src/events.ts) to `audit` until the returned function is called. */
export function auditGatewayEvents(audit: AuditLog, now: () => number = Date.now): () => void {
  // A locked-out client retrying in a loop is refused on every request: one line per user and
  // address per THROTTLE_LINE_MS, the next line says how many were folded into it (metrics count all).
  const throttled = new Map<string, { at: number; folded: number }>();
  const offs = [
    onEvent<LoginEvent>(channels.login, (e) => {
      let repeated: number | undefined;
      if (e.outcome === 'throttled') {
        const key = `${e.user}\0${e.address}`;
        const seen = throttled.get(key);
        if (seen && now() - seen.at < THROTTLE_LINE_MS) {
          seen.folded++;
          return;
        }
        repeated = seen?.folded || undefined;
        if (throttled.size >= 10_000) throttled.clear();
        throttled.set(key, { at: now(), folded: 0 });
      }
      audit.write(e.outcome === 'success' ? 'login' : e.outcome === 'failure' ? 'login.failed' : 'login.throttled', {
        user: clip(e.user), address: e.address, retryAfterSeconds: e.retryAfterSeconds, lockedBy: e.by, repeated,
      });
    }),
    onEvent<IntegrityEvent>(channels.integrity, (e) => audit.write('integrity.failure', { code: e.code, path: e.path, user: e.user, address: e.address })),
    onEvent<KeyEvent>(channels.key, (e) => {
      // Unlocks happen at every fresh login and are in the login line already; creations and new wraps change who can read.
      if (e.operation !== 'unlock') audit.write(`key.${e.operation}`, { mount: e.mount, identities: e.identities, via: 'gateway' });
    }),
    onEvent<AccountEvent>(channels.account, (e) => audit.write(`user.${e.operation}`, { user: e.user, source: e.source, via: 'gateway' })),
    onEvent<ShareEvent>(channels.share, (e) => audit.write(`share.${e.operation}`, {
      id: e.id, owner: clip(e.owner), scope: e.scope, path: e.path, action: e.action, address: e.address,
    })),
    onEvent<ConfigReloadEvent>(channels.configReload, (e) => audit.write('config.reload', { outcome: e.outcome, file: e.file, code: e.code, changed: e.changed })),
  ];
  return () => offs.forEach((off) => off());
}
