// Loads the one YAML configuration file, applies DAVCRYPT_* environment
// overrides, validates every key and resolves it into a Config (types.ts).
// Every problem becomes DC_ERR_CONFIG naming the key and the fix. Reads only
// the config file and the TLS/CA files it names; never opens stores or backends.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ARGON2_LIMITS, DEFAULT_ARGON2_PARAMS } from '../crypto/index.js';
import { davError } from '../errors.js';
import { isValidUserName } from './user-names.js';
import {
  DEFAULT_TIMEOUTS, type Argon2Params, type BackendConfig, type Config, type DropboxBackendConfig, type LimitsConfig, type MountConfig,
  type TimeoutsConfig,
} from './types.js';
import { resolveAudit, resolveMetricsListener } from './ops-keys.js';

/** The master key file of a config: keys.masterKeyFile, else <dataDir>/master.key. */
export function masterKeyFileOf(config: Config): string {
  return config.keys.masterKeyFile ?? resolve(config.dataDir, 'master.key');
}

/** config/default.yaml inside this package (what `npm start` serves). */
export const DEFAULT_CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/default.yaml');

/** docs/DESIGN.md §4 envelope cost. */
export const DEFAULT_ARGON2: Argon2Params = { ...DEFAULT_ARGON2_PARAMS };

export interface LoadOptions {
  /** Environment for overrides and env: passwords (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths (default process.cwd()). */
  cwd?: string;
  /** Name shown in errors (default the file path). */
  source?: string;
}

type Raw = Record<string, unknown>;

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

/** Reads and validates a YAML config file. Throws DC_ERR_CONFIG (missing file, bad YAML, bad key). */
export async function loadConfig(file: string = DEFAULT_CONFIG_PATH, options: LoadOptions = {}): Promise<Config> {
  const path = resolve(options.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw davError('DC_ERR_CONFIG', `cannot read config file ${path}: ${(err as Error).message}; pass an existing file with --config FILE`, { cause: err });
  }
  return parseConfig(text, { ...options, source: path });
}

/** Parses YAML text and validates it. Throws DC_ERR_CONFIG. */
export function parseConfig(text: string, options: LoadOptions = {}): Config {
  let raw: unknown;
  try {
    // `{user}` inside a flow mapping (`backend: { root: ./storage/{user} }`, the documented
    // shape) is not valid YAML: a plain scalar may not contain `{`. Protect the placeholder while
    // parsing and restore it after, so the documented one-liners work as written.
    raw = restoreUserPlaceholder(parseYaml(text.replaceAll('{user}', USER_PLACEHOLDER_SENTINEL).replaceAll('{dataDir}', DATADIR_PLACEHOLDER_SENTINEL)));
  } catch (err) {
    const hint = text.includes('{user}') ? "\nhint: quote values containing {user} inside { ... } mappings, e.g. root: './storage/{user}'" : '';
    throw davError('DC_ERR_CONFIG', `${options.source ?? 'config'}: not valid YAML: ${(err as Error).message}${hint}`, { cause: err });
  }
  return resolveConfig(raw ?? {}, options);
}

const USER_PLACEHOLDER_SENTINEL = '__davcrypt_user_placeholder__';
const DATADIR_PLACEHOLDER_SENTINEL = '__davcrypt_datadir_placeholder__';

function restoreUserPlaceholder(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll(USER_PLACEHOLDER_SENTINEL, '{user}').replaceAll(DATADIR_PLACEHOLDER_SENTINEL, '{dataDir}');
  if (Array.isArray(value)) return value.map(restoreUserPlaceholder);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [restoreUserPlaceholder(k) as string, restoreUserPlaceholder(v)]));
  }
  return value;
}

/** Validates an already-parsed object (as YAML would give) and fills defaults. Throws DC_ERR_CONFIG listing every bad key. */
export function resolveConfig(raw: unknown, options: LoadOptions = {}): Config {
  const v = new Validator(options.cwd ?? process.cwd(), options.env ?? process.env);
  const config = v.config(raw);
  if (v.problems.length > 0) {
    const where = options.source ? ` (${options.source})` : '';
    throw davError('DC_ERR_CONFIG', `invalid configuration${where}:\n  ${v.problems.join('\n  ')}`, {
      details: { keys: v.keys },
    });
  }
  return { ...config, source: options.source };
}

class Validator {
  readonly problems: string[] = [];
  readonly keys: string[] = [];
  constructor(
    private readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  private bad(key: string, fix: string): void {
    this.keys.push(key);
    this.problems.push(`${key}: ${fix}`);
  }

  private object(value: unknown, key: string, known: string[]): Raw {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.bad(key, `must be a mapping with keys ${known.join(', ')}`);
      return {};
    }
    for (const k of Object.keys(value)) {
      if (!known.includes(k)) this.bad(key ? `${key}.${k}` : k, `unknown key; known keys here: ${known.join(', ')}`);
    }
    return value as Raw;
  }

  private string(value: unknown, key: string, fallback: string, example: string): string {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string' && value.length > 0) return value;
    if (typeof value === 'number') return String(value);
    if (value && typeof value === 'object' && Object.keys(value).join() === 'user') {
      this.bad(key, `YAML read {user} as a mapping: quote the value, e.g. '${example}'`);
      return fallback;
    }
    this.bad(key, `must be a non-empty string, e.g. ${example}`);
    return fallback;
  }

  private int(value: unknown, key: string, fallback: number, min: number, max: number, example: string): number {
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    this.bad(key, `must be an integer from ${min} to ${max}, e.g. ${example}`);
    return fallback;
  }

  private bool(value: unknown, key: string, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    this.bad(key, 'must be true or false');
    return fallback;
  }

  /** The resolved dataDir, for `{dataDir}` in a local backend root (set before mounts are read). */
  private dataDir = '';

  private path(value: string): string {
    return resolve(this.cwd, value);
  }

  /** A secret: literal string, `env:NAME`, or `{ env: NAME }`. */
  private secret(value: unknown, key: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    let envName: string | undefined;
    if (typeof value === 'string') {
      if (!value.startsWith('env:')) return value;
      envName = value.slice(4);
    } else if (typeof value === 'object' && !Array.isArray(value) && typeof (value as Raw).env === 'string') {
      envName = (value as Raw).env as string;
    } else {
      this.bad(key, 'must be a string, env:NAME or { env: NAME }');
      return undefined;
    }
    const found = this.env[envName];
    if (found === undefined) {
      this.bad(key, `environment variable ${envName} is not set; export it or write the value into the config`);
      return undefined;
    }
    return found;
  }

  config(rawInput: unknown): Config {
    const raw = this.object(rawInput, '', ['server', 'dataDir', 'store', 'mounts', 'keys', 'auth', 'log', 'audit', 'timeouts', 'web']);
    const server = this.object(raw.server, 'server', ['host', 'port', 'tls', 'quota', 'realm', 'metrics', 'trustedProxies', 'limits', 'workers']);

    const host = this.env.DAVCRYPT_HOST ?? this.string(server.host, 'server.host', '127.0.0.1', '127.0.0.1');
    const port =
      this.env.DAVCRYPT_PORT !== undefined
        ? this.int(this.env.DAVCRYPT_PORT, 'DAVCRYPT_PORT', 8080, 0, 65535, '8080')
        : this.int(server.port, 'server.port', 8080, 0, 65535, '8080');

    let tls: Config['server']['tls'];
    if (server.tls !== undefined && server.tls !== null) {
      const t = this.object(server.tls, 'server.tls', ['cert', 'key', 'ca']);
      const cert = this.string(t.cert, 'server.tls.cert', '', '/etc/davcrypt/cert.pem');
      const key = this.string(t.key, 'server.tls.key', '', '/etc/davcrypt/key.pem');
      if (!cert) this.bad('server.tls.cert', 'is required with server.tls: a PEM certificate file');
      if (!key) this.bad('server.tls.key', 'is required with server.tls: a PEM private key file');
      for (const [k, f] of [['cert', cert], ['key', key]] as const) {
        if (f && !existsSync(this.path(f))) this.bad(`server.tls.${k}`, `file ${this.path(f)} does not exist`);
      }
      tls = { cert: this.path(cert), key: this.path(key) };
      if (t.ca !== undefined && t.ca !== null) {
        const ca = this.path(this.string(t.ca, 'server.tls.ca', '', '/etc/davcrypt/chain.pem'));
        if (!existsSync(ca)) this.bad('server.tls.ca', `file ${ca} does not exist; give the PEM intermediate chain`);
        tls.ca = ca;
      }
    }
    const quotaRaw = server.quota ?? 'auto';
    let quota: Config['server']['quota'] = 'auto';
    if (quotaRaw === 'on' || quotaRaw === 'off' || quotaRaw === 'auto') quota = quotaRaw;
    else if (quotaRaw === true) quota = 'on';
    else if (quotaRaw === false) quota = 'off';
    else this.bad('server.quota', 'must be on, off or auto');
    const realm = this.string(server.realm, 'server.realm', 'davcrypt', 'davcrypt');
    const trustedProxies = this.proxies(server.trustedProxies);
    const limits = this.limits(server.limits);
    // server.workers: processes sharing the port (src/cli/serve-cluster.ts). Absent or 'auto' = one per
    // core, decided at serve (everything shared lives in the store: docs/OPERATIONS.md).
    const workersRaw = this.env.DAVCRYPT_WORKERS ?? server.workers ?? 'auto';
    const workers = workersRaw === null || workersRaw === 'auto'
      ? undefined
      : this.int(workersRaw, this.env.DAVCRYPT_WORKERS !== undefined ? 'DAVCRYPT_WORKERS' : 'server.workers', 1, 1, 64, '2 (or auto: one per core)');

    const dataDir = this.path(this.env.DAVCRYPT_DATA_DIR ?? this.string(raw.dataDir, 'dataDir', './data', './data'));
    this.dataDir = dataDir;
    const storeKey = this.env.DAVCRYPT_STORE !== undefined ? 'DAVCRYPT_STORE' : 'store';
    const store = this.store(
      this.env.DAVCRYPT_STORE ?? this.string(raw.store, 'store', `sqlite://${resolve(dataDir, 'davcrypt.sqlite')}`, 'sqlite://./data/davcrypt.sqlite'),
      storeKey,
    );

    const mounts = this.mounts(raw.mounts);

    const keysRaw = this.object(raw.keys, 'keys', ['argon2', 'backendKeyring', 'mode', 'masterKeyFile']);
    const a = this.object(keysRaw.argon2, 'keys.argon2', ['m', 't', 'p']);
    const p = this.int(a.p, 'keys.argon2.p', DEFAULT_ARGON2.p, 1, ARGON2_LIMITS.maxP, '4');
    const argon2: Argon2Params = {
      m: this.int(a.m, 'keys.argon2.m', DEFAULT_ARGON2.m, 8 * p, ARGON2_LIMITS.maxM, '65536 (KiB)'),
      t: this.int(a.t, 'keys.argon2.t', DEFAULT_ARGON2.t, 1, ARGON2_LIMITS.maxT, '3'),
      p,
    };
    const backendKeyring = this.bool(keysRaw.backendKeyring, 'keys.backendKeyring', true);
    const keyMode = keysRaw.mode ?? 'password';
    if (keyMode !== 'password' && keyMode !== 'master') this.bad('keys.mode', 'must be password or master');
    const keys: Config['keys'] = { argon2, backendKeyring };
    if (keyMode === 'master') keys.mode = 'master';
    if (keysRaw.masterKeyFile !== undefined && keysRaw.masterKeyFile !== null) {
      keys.masterKeyFile = this.path(this.string(keysRaw.masterKeyFile, 'keys.masterKeyFile', '', './data/master.key'));
    }

    const authRaw = this.object(raw.auth, 'auth', ['cacheIdleSeconds', 'cacheMaxEntries', 'recheckSeconds', 'throttle', 'argon2Concurrency', 'argon2Queue', 'minPasswordLength', 'provider', 'verifyUrl']);
    const th = this.object(authRaw.throttle, 'auth.throttle', ['maxFailures', 'windowSeconds', 'baseDelaySeconds', 'maxDelaySeconds', 'maxFailuresPerAddress']);
    const auth: Config['auth'] = {
      cacheIdleSeconds: this.int(authRaw.cacheIdleSeconds, 'auth.cacheIdleSeconds', 900, 1, 86400, '900'),
      cacheMaxEntries: this.int(authRaw.cacheMaxEntries, 'auth.cacheMaxEntries', 1000, 1, 1_000_000, '1000'),
      recheckSeconds: this.int(authRaw.recheckSeconds, 'auth.recheckSeconds', 10, 0, 86400, '10'),
      throttle: {
        maxFailures: this.int(th.maxFailures, 'auth.throttle.maxFailures', 5, 1, 1000, '5'),
        windowSeconds: this.int(th.windowSeconds, 'auth.throttle.windowSeconds', 60, 1, 86400, '60'),
        baseDelaySeconds: this.int(th.baseDelaySeconds, 'auth.throttle.baseDelaySeconds', 5, 0, 86400, '5'),
        maxDelaySeconds: this.int(th.maxDelaySeconds, 'auth.throttle.maxDelaySeconds', 900, 0, 86400, '900'),
        maxFailuresPerAddress: this.int(th.maxFailuresPerAddress, 'auth.throttle.maxFailuresPerAddress', 20, 1, 100_000, '20'),
      },
      minPasswordLength: this.int(authRaw.minPasswordLength, 'auth.minPasswordLength', 8, 1, 1024, '8'),
    };
    if (authRaw.argon2Concurrency !== undefined) auth.argon2Concurrency = this.int(authRaw.argon2Concurrency, 'auth.argon2Concurrency', 2, 1, 256, '2');
    if (authRaw.argon2Queue !== undefined) auth.argon2Queue = this.int(authRaw.argon2Queue, 'auth.argon2Queue', 32, 0, 100_000, '32');

    this.authProvider(authRaw, auth, mounts, keyMode);

    const logRaw = this.object(raw.log, 'log', ['level', 'json']);
    const level = this.string(logRaw.level, 'log.level', 'info', 'info');
    if (!LOG_LEVELS.includes(level)) this.bad('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);
    const log: Config['log'] = { level };
    if (logRaw.json !== undefined) log.json = this.bool(logRaw.json, 'log.json', false);

    const config: Config = { server: { host, port, tls, quota, realm, ...(trustedProxies ? { trustedProxies } : {}), limits, ...(workers !== undefined ? { workers } : {}) }, dataDir, store, mounts, keys, auth, log, timeouts: this.timeouts(raw.timeouts) };
    // web: the browser page and share links (src/web); absent = both on with the defaults.
    if (raw.web !== undefined) {
      const webRaw = this.object(raw.web, 'web', ['enabled', 'shares', 'sessionHours']);
      config.web = {
        enabled: this.bool(webRaw.enabled, 'web.enabled', true),
        shares: this.bool(webRaw.shares, 'web.shares', true),
        sessionHours: this.int(webRaw.sessionHours, 'web.sessionHours', 12, 1, 24 * 30, '12'),
      };
    }
    // ops: metrics listener and audit log (src/config/ops-keys.ts); absent = off.
    const metrics = resolveMetricsListener(server.metrics, (k, f) => this.bad(k, f));
    if (metrics) config.server.metrics = metrics;
    const audit = resolveAudit(raw.audit, this.cwd, (k, f) => this.bad(k, f));
    if (audit) config.audit = audit;
    return config;
  }

  /** server.trustedProxies: addresses or CIDRs (10.0.0.0/8, ::1). */
  private proxies(value: unknown): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    const example = 'e.g. [127.0.0.1, 10.0.0.0/8]';
    if (!Array.isArray(value)) {
      this.bad('server.trustedProxies', `must be a list of addresses or CIDRs of your reverse proxies, ${example}`);
      return undefined;
    }
    value.forEach((v, i) => {
      const [addr, prefix, extra] = String(v).split('/');
      const family = isIP(addr ?? '');
      const bits = family === 4 ? 32 : 128;
      const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
      if (typeof v !== 'string' || family === 0 || !prefixOk || extra !== undefined) {
        this.bad(`server.trustedProxies[${i}]`, `must be an IP address or CIDR, ${example}`);
      }
    });
    return value.map(String);
  }

  /** server.limits, each with its default (src/server/limits.ts explains them). */
  private limits(value: unknown): LimitsConfig {
    const l = this.object(value, 'server.limits', ['xmlBodyBytes', 'deadPropsPerResource', 'deadPropBytesPerResource', 'deadPropBytesPerMount', 'propValueBytes', 'lockOwnerBytes', 'locksPerUser', 'propfindProps']);
    return {
      xmlBodyBytes: this.int(l.xmlBodyBytes, 'server.limits.xmlBodyBytes', 1024 * 1024, 1024, 1024 ** 3, '1048576'),
      deadPropsPerResource: this.int(l.deadPropsPerResource, 'server.limits.deadPropsPerResource', 100, 0, 1_000_000, '100'),
      deadPropBytesPerResource: this.int(l.deadPropBytesPerResource, 'server.limits.deadPropBytesPerResource', 65536, 0, 1024 ** 3, '65536'),
      deadPropBytesPerMount: this.int(l.deadPropBytesPerMount, 'server.limits.deadPropBytesPerMount', 16 * 1024 * 1024, 0, 1024 ** 3, '16777216'),
      propValueBytes: this.int(l.propValueBytes, 'server.limits.propValueBytes', 16384, 64, 1024 ** 3, '16384'),
      lockOwnerBytes: this.int(l.lockOwnerBytes, 'server.limits.lockOwnerBytes', 2048, 64, 1024 ** 2, '2048'),
      locksPerUser: this.int(l.locksPerUser, 'server.limits.locksPerUser', 200, 1, 10_000_000, '200'),
      propfindProps: this.int(l.propfindProps, 'server.limits.propfindProps', 256, 1, 1_000_000, '256'),
    };
  }

  private timeouts(value: unknown): TimeoutsConfig {
    const t = this.object(value, 'timeouts', Object.keys(DEFAULT_TIMEOUTS));
    const out = { ...DEFAULT_TIMEOUTS };
    for (const k of Object.keys(DEFAULT_TIMEOUTS) as (keyof TimeoutsConfig)[]) {
      const min = k === 'shutdownSeconds' ? 0 : 1;
      out[k] = this.int(t[k], `timeouts.${k}`, DEFAULT_TIMEOUTS[k], min, k === 'backendRequestsPerUser' ? 10_000 : 86_400, String(DEFAULT_TIMEOUTS[k]));
    }
    return out;
  }

  private store(url: string, key: string): string {
    const m = /^(sqlite|redis|rediss|memory):\/\/(.*)$/.exec(url);
    if (!m) {
      this.bad(key, 'must be a keyv URL: sqlite://./data/davcrypt.sqlite, redis://127.0.0.1:6379 or memory://');
      return 'memory://';
    }
    if (m[1] === 'sqlite') {
      if (!m[2]) {
        this.bad(key, 'sqlite:// needs a file path, e.g. sqlite://./data/davcrypt.sqlite');
        return url;
      }
      return `sqlite://${this.path(m[2])}`;
    }
    return url;
  }

  private mounts(value: unknown): MountConfig[] {
    if (value === undefined || value === null) {
      this.bad('mounts', 'is required: a list of mounts, e.g. [{ path: /, encrypt: true, backend: { type: local, root: ./storage/{user} } }]');
      return [];
    }
    if (!Array.isArray(value) || value.length === 0) {
      this.bad('mounts', 'must be a non-empty list of mounts, e.g. - { path: /, backend: { type: local, root: ./storage/{user} } }');
      return [];
    }
    const seen = new Set<string>();
    const out: MountConfig[] = [];
    value.forEach((item, i) => {
      const key = `mounts[${i}]`;
      const m = this.object(item, key, ['path', 'encrypt', 'backend', 'users', 'plaintext']);
      let path = this.string(m.path, `${key}.path`, '', '/ or /team');
      if (!path) this.bad(`${key}.path`, 'is required: the URL path of the mount, e.g. / or /team');
      else if (!path.startsWith('/') || path.split('/').some((s) => s === '.' || s === '..') || /[?#%\\]/.test(path)) {
        this.bad(`${key}.path`, 'must be an absolute URL path without ., .., ?, #, % or \\, e.g. /team');
      }
      path = path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
      if (path && seen.has(path)) this.bad(`${key}.path`, `duplicates another mount at ${path}; give each mount its own path`);
      seen.add(path);
      const encrypt = this.bool(m.encrypt, `${key}.encrypt`, true);
      const backend = this.backend(m.backend, `${key}.backend`);
      const target = backend ? (backend.type === 'webdav' ? backend.url : backend.root) : '';
      const perUser = target.includes('{user}');
      let users: string[] | undefined;
      if (m.users !== undefined && m.users !== null) {
        if (!Array.isArray(m.users) || m.users.length === 0) {
          this.bad(`${key}.users`, 'must be a non-empty list of user names, e.g. [alice, bob] (or [\'*\'] for everyone)');
        } else {
          users = [];
          m.users.forEach((u, j) => {
            if (typeof u === 'string' && (u === '*' || isValidUserName(u))) users!.push(u);
            else this.bad(`${key}.users[${j}]`, 'must be a user name (letters, digits, . _ @ -; up to 64) or *');
          });
        }
      } else if (backend && !perUser) {
        this.bad(`${key}.users`, 'is required for a shared mount (no {user} in the backend root/url): list who may use it, e.g. users: [alice, bob]');
      }
      let plaintext: MountConfig['plaintext'];
      if (m.plaintext !== undefined && m.plaintext !== null) {
        if (m.plaintext !== 'refuse' && m.plaintext !== 'read') {
          this.bad(`${key}.plaintext`, 'must be refuse (the default: a stored file without the DAVCRYPT magic is an error) or read (serve such files as they are while encrypt-all converts them)');
        } else if (!encrypt) {
          this.bad(`${key}.plaintext`, 'applies only to encrypted mounts (encrypt: true); remove it');
        } else {
          plaintext = m.plaintext;
        }
      }
      if (backend && path) out.push({ path, encrypt, backend, perUser, users, ...(plaintext ? { plaintext } : {}) });
    });
    return out;
  }

  /** auth.provider / auth.verifyUrl: who checks passwords (davcrypt itself, or the passthrough backend). */
  private authProvider(authRaw: Raw, auth: Config['auth'], mounts: MountConfig[], keyMode: unknown): void {
    const provider = authRaw.provider ?? 'local';
    if (provider !== 'local' && provider !== 'backend') {
      this.bad('auth.provider', 'must be local (davcrypt\'s own accounts) or backend (logins checked against the WebDAV backend)');
      return;
    }
    if (authRaw.verifyUrl !== undefined && authRaw.verifyUrl !== null) {
      const example = 'https://cloud.example.com/ocs/v1.php/cloud/user';
      const url = this.string(authRaw.verifyUrl, 'auth.verifyUrl', '', example);
      let ok: boolean;
      try {
        const u = new URL(url.replaceAll('{user}', 'user'));
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
      } catch {
        ok = false;
      }
      if (!ok) this.bad('auth.verifyUrl', `must be an http(s) URL without credentials, e.g. ${example}`);
      if (provider !== 'backend') this.bad('auth.verifyUrl', 'applies only to auth.provider: backend');
      auth.verifyUrl = url;
    }
    if (provider !== 'backend') {
      // Her forwarded password would be the one her keys are sealed under: the backend could open them.
      const i = mounts.findIndex((m) => m.backend.type === 'webdav' && m.backend.passthrough);
      if (i >= 0) {
        this.bad(`mounts[${i}].backend.auth`, 'passthrough sends each user\'s password to the backend, so davcrypt must not seal her keys ' +
          'under it: also set auth.provider: backend and keys.mode: master');
      }
      return;
    }
    auth.provider = 'backend';
    if (keyMode !== 'master') {
      this.bad('auth.provider', 'backend needs keys.mode: master: the backend then sees every user\'s password, so keys sealed ' +
        'under those passwords would protect nothing against it (create the key file with davcrypt master init)');
    }
    if (auth.verifyUrl === undefined && !mounts.some((m) => m.backend.type === 'webdav' && m.backend.passthrough)) {
      this.bad('auth.provider', 'backend needs auth.verifyUrl or a WebDAV mount with backend.auth: passthrough (whose {user} URL then checks logins)');
    }
  }

  private backend(value: unknown, key: string): BackendConfig | undefined {
    if (value === undefined || value === null) {
      this.bad(key, 'is required, e.g. { type: local, root: ./storage/{user} }');
      return undefined;
    }
    if (value && typeof value === 'object' && (value as Raw).type === 'dropbox') return this.dropbox(value as Raw, key);
    const b = this.object(value, key, ['type', 'root', 'url', 'username', 'password', 'auth', 'ca', 'uploadViaTemp']);
    if (b.type === 'local') {
      for (const k of ['url', 'username', 'password', 'auth', 'ca', 'uploadViaTemp']) {
        if (b[k] !== undefined) this.bad(`${key}.${k}`, 'applies only to type: webdav');
      }
      const root = this.string(b.root, `${key}.root`, '', './storage/{user}');
      if (!root) {
        this.bad(`${key}.root`, 'is required for type: local, e.g. ./storage/{user}');
        return undefined;
      }
      // `{dataDir}` at the start: inside the data folder, so DAVCRYPT_DATA_DIR moves the storage too.
      return { type: 'local', root: this.path(root.replace(/^\{dataDir\}(?=[/\\]|$)/, () => this.dataDir)) };
    }
    if (b.type === 'webdav') {
      if (b.root !== undefined) this.bad(`${key}.root`, 'applies only to type: local; use url for webdav');
      const example = 'https://dav.example.com/remote.php/dav/files/davcrypt/homes/{user}/';
      let url = this.string(b.url, `${key}.url`, '', example);
      let parsed: URL | undefined;
      try {
        parsed = new URL(url.replaceAll('{user}', 'user'));
      } catch {
        parsed = undefined;
      }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search || parsed.hash) {
        this.bad(`${key}.url`, `must be an http(s) URL, e.g. ${example}`);
        return undefined;
      }
      if (parsed.username || parsed.password) {
        this.bad(`${key}.url`, 'must not carry credentials; use username and password keys');
      }
      if (!url.endsWith('/')) url += '/';
      const out: BackendConfig = { type: 'webdav', url };
      let account: Raw = b;
      let accountKey = key;
      if (b.auth === 'passthrough') {
        if (b.username !== undefined || b.password !== undefined) this.bad(`${key}.auth`, 'passthrough sends each user\'s own credentials; remove username and password');
        if (!url.includes('{user}')) this.bad(`${key}.url`, 'with auth: passthrough must contain {user}: each user reaches her own folder with her own credentials');
        out.passthrough = true;
      } else if (b.auth !== undefined && b.auth !== null) {
        if (typeof b.auth !== 'object' || b.username !== undefined || b.password !== undefined) {
          this.bad(`${key}.auth`, 'must be passthrough or { username, password } (the service account), not both auth and username/password');
        } else {
          accountKey = `${key}.auth`;
          account = this.object(b.auth, accountKey, ['username', 'password']);
        }
      }
      if (account.username !== undefined) out.username = this.string(account.username, `${accountKey}.username`, '', 'davcrypt');
      const password = this.secret(account.password, `${accountKey}.password`);
      if (password !== undefined) out.password = password;
      if (b.ca !== undefined) {
        const ca = this.path(this.string(b.ca, `${key}.ca`, '', '/etc/ssl/my-ca.pem'));
        try {
          out.ca = readFileSync(ca, 'utf8');
        } catch {
          this.bad(`${key}.ca`, `cannot read CA file ${ca}; give a PEM file path`);
        }
      }
      if (b.uploadViaTemp === 'auto') out.uploadViaTemp = 'auto';
      else if (typeof b.uploadViaTemp === 'boolean') out.uploadViaTemp = b.uploadViaTemp;
      else if (b.uploadViaTemp !== undefined && b.uploadViaTemp !== null) this.bad(`${key}.uploadViaTemp`, 'must be true, false or auto (the default)');
      return out;
    }
    this.bad(`${key}.type`, 'must be local, webdav or dropbox, e.g. type: local');
    return undefined;
  }

  /** type: dropbox — root, app.key, token (env:NAME, file:PATH, { env }, { file }), test-only API base overrides. */
  private dropbox(raw: Raw, key: string): BackendConfig | undefined {
    const b = this.object(raw, key, ['type', 'root', 'app', 'token', 'apiBase', 'contentBase']);
    const root = this.string(b.root, `${key}.root`, '', '/davcrypt/{user}');
    if (!root) {
      this.bad(`${key}.root`, 'is required for type: dropbox: a folder in the Dropbox account, e.g. /davcrypt/{user}');
      return undefined;
    }
    if (!root.startsWith('/') || root.split('/').some((s) => s === '.' || s === '..')) {
      this.bad(`${key}.root`, 'must be an absolute Dropbox folder without . or .., e.g. /davcrypt/{user}');
    }
    const out: DropboxBackendConfig = { type: 'dropbox', root: root.replace(/\/+$/, '') || '/' };
    if (b.app !== undefined) {
      const app = this.object(b.app, `${key}.app`, ['key']);
      const appKey = this.string(app.key, `${key}.app.key`, '', 'abcd1234efgh567');
      if (appKey) out.appKey = appKey;
      else this.bad(`${key}.app.key`, 'is required with app: the app key of your Dropbox app');
    }
    const t = b.token;
    const fileRef = typeof t === 'string' && t.startsWith('file:') ? t.slice(5)
      : t && typeof t === 'object' && !Array.isArray(t) && typeof (t as Raw).file === 'string' ? (t as Raw).file as string : undefined;
    if (fileRef !== undefined) {
      if (!fileRef.trim()) this.bad(`${key}.token`, 'file: needs a path, e.g. file:./data/dropbox-token');
      else out.tokenFile = this.path(fileRef.trim());
    } else if (t === undefined || t === null) {
      this.bad(`${key}.token`, 'is required: env:NAME or file:PATH holding the refresh token from `davcrypt dropbox login`');
    } else {
      const token = this.secret(t, `${key}.token`);
      if (token !== undefined) out.token = token;
    }
    for (const k of ['apiBase', 'contentBase'] as const) {
      if (b[k] === undefined || b[k] === null) continue;
      const v = this.string(b[k], `${key}.${k}`, '', 'http://127.0.0.1:8081');
      let u: URL | undefined;
      try {
        u = new URL(v);
      } catch {
        u = undefined;
      }
      // Only for tests: a loopback Dropbox test server. Anything else would send the token elsewhere.
      if (!u || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
        this.bad(`${key}.${k}`, 'is for tests against a loopback Dropbox test server only (http://127.0.0.1:PORT)');
      } else {
        out[k] = v.replace(/\/+$/, '');
      }
    }
    return out;
  }
}
