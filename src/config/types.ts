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
}

export interface ThrottleConfig {
  /** Failed logins allowed within windowSeconds before refusing. */
  maxFailures: number;
  windowSeconds: number;
  /** First refusal lasts this long; each further failure while refused doubles it, up to maxDelaySeconds. */
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export interface Config {
  /** Absolute path of the file this came from (undefined for an in-memory config). */
  source?: string;
  server: {
    host: string;
    port: number;
    tls?: { cert: string; key: string };
    quota: 'on' | 'off' | 'auto';
    realm: string;
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
    /** 'backend': logins are checked against the WebDAV backend (needs keys.mode master); undefined: davcrypt's own accounts. */
    provider?: 'backend';
    /** Where a backend login is checked ({user} substituted): an OCS cloud/user URL (GET) or a WebDAV URL (PROPFIND Depth 0).
     *  Undefined: the first passthrough mount's URL. */
    verifyUrl?: string;
  };
  log: { level: string; json?: boolean };
}
