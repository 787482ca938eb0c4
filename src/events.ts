// Operational events: what happened (a login, an integrity failure, a backend call, a key
// operation, a config reload), published on node:diagnostics_channel so that ops/ can turn
// them into metrics and audit lines without the publishing code knowing either exists.
// Publishing costs one hasSubscribers check when nothing listens (the CLI, most tests).
// Events carry names, addresses, paths and codes; never passwords, keys or headers.
import diagnostics from 'node:diagnostics_channel';

/** A login attempt that ran the password check, or one refused by the throttle. */
export interface LoginEvent {
  outcome: 'success' | 'failure' | 'throttled';
  user: string;
  /** Client address as the socket reports it ('' when unknown). */
  address: string;
  /** Throttled: seconds until the next attempt is allowed, and whether the user or the address is locked. */
  retryAfterSeconds?: number;
  by?: 'user+address' | 'address';
}

/** A request that failed because stored ciphertext did not verify (tampered, truncated...). */
export interface IntegrityEvent {
  code: string;
  /** The WebDAV path of the request. */
  path: string;
  user?: string;
  address?: string;
}

/** One call of a backend method, as seen by the ObservedBackend decorator. */
export interface BackendCallEvent {
  /** The configured mount path ('/', '/team'): low-cardinality, never a user's resolved root. */
  mount: string;
  /** Backend type: 'local', 'webdav'. */
  backend: string;
  /** Backend method: stat, list, read, write, ... */
  operation: string;
  /** 'ok' or the DC_ERR code it threw. */
  outcome: string;
  seconds: number;
}

/** An account made in this process outside the CLI commands (the initial admin) or adopted from a keyring. */
export interface AccountEvent {
  /** add: a new account; adopt: an identity found in a backend keyring became an account by an operator's command. */
  operation: 'add' | 'adopt';
  user: string;
  /** adopt: how the identity became an account ('restore': the operator's restore command after a lost store). */
  source?: string;
}

/** A key operation done by the running gateway (the CLI's are audited per command, see ops/audit-cli.ts). */
export interface KeyEvent {
  /**
   * unlock: a mount's keys opened at a login; create: a mount's first key (or a fresh one: nothing on the
   * backend was authenticated); wrap: held keys wrapped to new members; adopt: keys taken over from the
   * backend copy because an opener's own keyring tag vouches for them (docs/FORMAT.md §3.6; a lost store).
   */
  operation: 'unlock' | 'create' | 'wrap' | 'adopt';
  /** Mount id: 'home:alice', 'shared:/team'. */
  mount: string;
  /** Identities the keys were wrapped to (create, wrap). */
  identities?: string[];
}

/** A configuration reload (SIGHUP). */
export interface ConfigReloadEvent {
  outcome: 'ok' | 'failed';
  file?: string;
  /** Error code when it failed (the running config stays). */
  code?: string;
  /** Top-level keys that changed, when known. */
  changed?: string[];
}

/** A share link event (src/web). Carries the link's public id, never its token or password. */
export interface ShareEvent {
  /** create / revoke by the owner; use: a download or upload through the link; password-failed: a wrong link password. */
  operation: 'create' | 'use' | 'password-failed' | 'revoke';
  /** Public link id (16 hex chars), not the token. */
  id: string;
  owner: string;
  scope?: 'read' | 'drop' | 'readwrite';
  /** WebDAV path of the shared file or folder (create, revoke) or of the file used (use). */
  path?: string;
  /** use: download or upload. */
  action?: 'download' | 'upload';
  address?: string;
}

export const channels = {
  login: diagnostics.channel('davcrypt:login'),
  integrity: diagnostics.channel('davcrypt:integrity'),
  backendCall: diagnostics.channel('davcrypt:backend-call'),
  key: diagnostics.channel('davcrypt:key'),
  account: diagnostics.channel('davcrypt:account'),
  configReload: diagnostics.channel('davcrypt:config-reload'),
  share: diagnostics.channel('davcrypt:share'),
} as const;

/** Codes that mean the stored ciphertext did not verify (docs/errors.md, "File format"). */
export const INTEGRITY_CODES: ReadonlySet<string> = new Set([
  'DC_ERR_TAMPERED', 'DC_ERR_TRUNCATED', 'DC_ERR_TRAILING_DATA', 'DC_ERR_BAD_HEADER', 'DC_ERR_UNSUPPORTED_VERSION', 'DC_ERR_UNKNOWN_KEY',
]);

export function publishLogin(event: LoginEvent): void {
  if (channels.login.hasSubscribers) channels.login.publish(event);
}

/** Publishes an IntegrityEvent when `err` carries an integrity code; other errors are ignored. */
export function publishRequestFailure(err: unknown, where: { path?: string; user?: string; address?: string }): void {
  if (!channels.integrity.hasSubscribers) return;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !INTEGRITY_CODES.has(code)) return;
  channels.integrity.publish({ code, path: where.path ?? '(invalid)', user: where.user, address: where.address } satisfies IntegrityEvent);
}

export function publishKey(event: KeyEvent): void {
  if (channels.key.hasSubscribers) channels.key.publish(event);
}

export function publishShare(event: ShareEvent): void {
  if (channels.share.hasSubscribers) channels.share.publish(event);
}

export function publishAccount(event: AccountEvent): void {
  if (channels.account.hasSubscribers) channels.account.publish(event);
}

export function publishConfigReload(event: ConfigReloadEvent): void {
  if (channels.configReload.hasSubscribers) channels.configReload.publish(event);
}

/** Subscribes `fn` to a channel; returns the unsubscribe function. */
export function onEvent<T>(channel: diagnostics.Channel, fn: (event: T) => void): () => void {
  const listener = (message: unknown) => fn(message as T);
  channel.subscribe(listener);
  return () => channel.unsubscribe(listener);
}
