// The validated, resolved configuration the rest of the gateway consumes.
// Plain data only: every path is absolute, every env: password already read,
// every default filled in. Produced by load.ts; nothing here does I/O.

import type { Argon2Params } from '../crypto/index.js';

export type { Argon2Params };

export interface LocalBackendConfig {
  type: 'local';
  /** Absolute folder; may contain `{user}`. */
  root: string;
}

export interface WebdavBackendConfig {
  type: 'webdav';
  /** http(s) URL ending in '/'; may contain `{user}`. */
  url: string;
  username?: string;
  /** Already resolved (env: references read at load time). Never log it. */
  password?: string;
  /** `auth: passthrough`: each user's own login credentials are sent to her `{user}` URL (no username/password). */
  passthrough?: boolean;
  /** PEM of extra CA certificates to trust (read from the `ca` file at load time). */
  ca?: string;
  /**
   * true: upload to a temp name and MOVE into place (servers that write PUT bodies straight into the
   * target, e.g. rclone serve webdav); false: PUT onto the target; 'auto' (also when absent): the
   * backend measures once, on its first write, whether an aborted PUT replaces the stored file.
   */
  uploadViaTemp?: boolean | 'auto';
}

export interface DropboxBackendConfig {
  type: 'dropbox';
  /** Folder in the Dropbox account, '/' or '/davcrypt/{user}' (created on first use for per-user mounts). */
  root: string;
  /** App key of the Dropbox app (PKCE, no secret). With it, the token is a refresh token; without, an access token. */
  appKey?: string;
  /** The token itself (from env: or a literal), already read. Never log it. */
  token?: string;
  /** Absolute path of a 0600 file holding the token (read when the backend opens; `davcrypt dropbox login` writes it). */
  tokenFile?: string;
  /** API base URL override, for tests against a loopback Dropbox test server only. */
  apiBase?: string;
  /** Content API base URL override, for tests only. */
  contentBase?: string;
}

export type BackendConfig = LocalBackendConfig | WebdavBackendConfig | DropboxBackendConfig;

export interface MountConfig {
  /** URL path where the mount appears: '/' or '/team' (no trailing slash except the root). */
  path: string;
  encrypt: boolean;
  backend: BackendConfig;
  /** True when the backend root/url contains `{user}`: each user gets her own home there. */
  perUser: boolean;
  /** Who may use a shared mount (undefined for per-user mounts). */
  users?: string[];
  /**
   * Encrypted mounts: what a stored file without the DAVCRYPT magic is. 'refuse' (also when
   * undefined): an error (the backend could have put it there). 'read': plaintext from before
   * encryption was enabled, served as it is until encrypt-all converted it.
   */
  plaintext?: 'refuse' | 'read';
}

export interface ThrottleConfig {
  /** Failed logins allowed within windowSeconds before refusing. */
  maxFailures: number;
  windowSeconds: number;
  /** First refusal lasts this long; each further failure while refused doubles it, up to maxDelaySeconds. */
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  /** Failed logins from one client address (any user names) within windowSeconds (default 20). Others count per (user, address). */
  maxFailuresPerAddress?: number;
}

/** server.limits: bounds answered with DC_ERR_LIMIT_EXCEEDED / DC_ERR_PAYLOAD_TOO_LARGE (src/server/limits.ts). */
export interface LimitsConfig {
  xmlBodyBytes: number;
  deadPropsPerResource: number;
  deadPropBytesPerResource: number;
  deadPropBytesPerMount: number;
  propValueBytes: number;
  lockOwnerBytes: number;
  locksPerUser: number;
  propfindProps: number;
}

export interface Config {
  /** Absolute path of the file this came from (undefined for an in-memory config). */
  source?: string;
  server: {
    host: string;
    port: number;
    /** PEM files; `ca` (intermediate chain) is sent after the certificate. Re-read on SIGHUP. */
    tls?: { cert: string; key: string; ca?: string };
    quota: 'on' | 'off' | 'auto';
    realm: string;
    /** ops: a second listener for /metrics (and /livez, /readyz); off when undefined. */
    metrics?: MetricsListenerConfig;
    /** Addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (default none). */
    trustedProxies?: string[];
    limits?: LimitsConfig;
    /** Gateway processes sharing the port under `davcrypt serve` (undefined = 'auto', the default: one per core). */
    workers?: number;
  };
  /** Absolute folder for gateway state (initial-admin-password, sqlite store by default). */
  dataDir: string;
  /** keyv URL: sqlite:///abs/path, redis://..., memory:// */
  store: string;
  mounts: MountConfig[];
  keys: {
    argon2: Argon2Params;
    /** Write each encrypted mount's keyring to <mount root>/.davcrypt/keyring.json (default true). */
    backendKeyring: boolean;
    /** password (default when undefined): mount keys open with the user's password; master: also with the key file below (gateway-held). */
    mode?: 'password' | 'master';
    /** Absolute path of the master key file (undefined: <dataDir>/master.key; see masterKeyFileOf). */
    masterKeyFile?: string;
  };
  auth: {
    cacheIdleSeconds: number;
    cacheMaxEntries: number;
    /** How often a cached login re-reads the user record (to notice passwd/remove from the CLI). */
    recheckSeconds: number;
    throttle: ThrottleConfig;
    /** argon2 computations at once (default: CPU cores, at most libuv threads - 2); one per user name. */
    argon2Concurrency?: number;
    /** Fresh logins waiting for argon2 beyond which DC_ERR_BUSY (503) answers (default 32). */
    argon2Queue?: number;
    /** Shortest password accepted when one is set (user add, passwd, recovery, DAVCRYPT_ADMIN_PASSWORD); default 8. */
    minPasswordLength: number;
    /** 'backend': logins are checked against the WebDAV backend (needs keys.mode master); undefined: davcrypt's own accounts. */
    provider?: 'backend';
    /** Where a backend login is checked ({user} substituted): an OCS cloud/user URL (GET) or a WebDAV URL (PROPFIND Depth 0).
     *  Undefined: the first passthrough mount's URL. */
    verifyUrl?: string;
  };
  log: { level: string; json?: boolean };
  /** ops: where the audit log goes (JSON lines); off when undefined. */
  audit?: AuditConfig;
  /** web: the browser page (sessions) and share links; undefined = on, sessions of 12 hours. */
  web?: { enabled: boolean; shares: boolean; sessionHours: number };
  /** Fault handling (loadConfig fills every field; absent in hand-made configs means the defaults). */
  timeouts?: TimeoutsConfig;
}

/** How long the gateway waits for its peers before answering with an error (FAULTS in README). */
export interface TimeoutsConfig {
  /** TCP + TLS connect to a WebDAV backend (unreachable: 503). */
  backendConnectSeconds: number;
  /** A WebDAV backend's response headers, and the longest silence inside its body (504). */
  backendHeadersSeconds: number;
  backendBodySeconds: number;
  /** An upload body bringing less than 1 KiB in this many seconds is dropped (408, temp removed): silence or a trickle. */
  uploadIdleSeconds: number;
  /** One store (sqlite, redis) operation (503 after this). */
  storeSeconds: number;
  /** SIGTERM/SIGINT: how long in-flight requests may run on before they are cut. */
  shutdownSeconds: number;
  /** Backend requests one user may have in flight at once; more wait (so one user's stalls cannot starve the rest). */
  backendRequestsPerUser: number;
}

export const DEFAULT_TIMEOUTS: TimeoutsConfig = {
  backendConnectSeconds: 10, backendHeadersSeconds: 60, backendBodySeconds: 60, uploadIdleSeconds: 60,
  storeSeconds: 5, shutdownSeconds: 30, backendRequestsPerUser: 8,
};

/** The config's timeouts, or the defaults for a hand-made Config without them. */
export function timeoutsOf(config: Pick<Config, 'timeouts'>): TimeoutsConfig {
  return config.timeouts ?? DEFAULT_TIMEOUTS;
}

/** `server.metrics`: the Prometheus listener (no authentication: bind it to a private address). */
export interface MetricsListenerConfig {
  host: string;
  port: number;
}

/** `audit`: a file (absolute path, appended, mode 0600) or stdout. */
export type AuditConfig = { file: string } | { stdout: true };
