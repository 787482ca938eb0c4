// startTestGateway(): the real gateway (src/app.ts) on 127.0.0.1 with a random
// port, a temp folder for data and local storage, tiny argon2 params (fast
// logins), a silent logger and pre-created users. Used by gateway e2e, litmus,
// benchmark and key-tool tests. Touches nothing outside its temp folder.
//
//   const gw = await startTestGateway({ users: { alice: 'pw' } });
//   await fetch(new URL('/file.txt', gw.url), { method: 'PUT', body: 'x', headers: { authorization: gw.authHeader('alice') } });
//   // files of alice are under join(gw.storageRoot, 'alice') (encrypted unless encrypt: false)
//   await gw.restart({ wipeStore: true });   // same storage, lost store: keys come back from the backend keyring
//   await gw.close();                        // stops and removes the temp folder
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startGateway, type RunningGateway } from '../../src/app.js';
import { resolveConfig, type Config } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/logging.js';

export const TEST_ARGON2 = { m: 1024, t: 1, p: 1 } as const;

export interface TestGatewayOptions {
  /** Accounts created at the first start: name → password. Default { alice: 'alice-password' }. */
  users?: Record<string, string>;
  /**
   * Mounts in config-file shape (see config/default.yaml). Default: one per-user home at '/' on the
   * chosen backend. Relative local roots resolve inside the temp folder.
   */
  mounts?: unknown[];
  /** Backend of the default home mount: 'local' (default; <storageRoot>/<user>) or a WebDAV share
   *  (url may contain {user}; otherwise '<url>/<user>/' is used and created with MKCOL). */
  backend?: 'local' | { webdavUrl: string; username?: string; password?: string; uploadViaTemp?: boolean };
  /** Encrypt the default home mount (default true). */
  encrypt?: boolean;
  /** 'sqlite' (default: in the data folder, survives restart()), 'memory' (lost on every restart),
   *  or a store URL such as 'redis://127.0.0.1:PORT' (shared by several test gateways). */
  store?: 'sqlite' | 'memory' | (string & {});
  /** Extra top-level config keys merged over the defaults (auth, keys, server, log). */
  config?: Record<string, unknown>;
  /** Logger (default silent). */
  logger?: Logger;
}

export interface RestartOptions {
  /** Delete the data folder (store, initial-admin-password) first: simulates a lost store. */
  wipeStore?: boolean;
  /** Accounts to add after the restart (existing ones are skipped). */
  users?: Record<string, string>;
  /** Replace the mounts / extra config for the new run. */
  mounts?: unknown[];
  config?: Record<string, unknown>;
}

export interface TestGateway {
  /** 'http://127.0.0.1:PORT/' (changes only if the old port was taken at restart). */
  url: string;
  port: number;
  /** Temp folder holding everything (data, storage). */
  root: string;
  /** Gateway state: the sqlite store lives here. */
  dataDir: string;
  /** Local storage: user homes are <storageRoot>/<name> (the raw, encrypted files). WebDAV: the share URL. */
  storageRoot: string;
  /** Every account created through this helper: name → password. */
  users: Record<string, string>;
  /** The resolved config of the current run. */
  config: Config;
  /** The running app: store, user services (authenticator.stats(), accounts...). */
  gateway: RunningGateway;
  /** 'Basic ...' for a helper-created user (default the first one). */
  authHeader(user?: string): string;
  /** Stops the gateway, keeps the files. */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same data and storage. */
  restart(options?: RestartOptions): Promise<void>;
  /** Stops and removes the temp folder. Safe to call twice. */
  close(): Promise<void>;
  /** Writes the current run's config to <root>/davcrypt.yaml for CLI commands (--config); returns the path. */
  configFile(): Promise<string>;
}

/** Starts a gateway as described above. Throws what startGateway throws (config, listen). */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const root = await mkdtemp(join(tmpdir(), 'davcrypt-gw-'));
  const dataDir = join(root, 'data');
  const users: Record<string, string> = { ...(options.users ?? { alice: 'alice-password' }) };
  const logger = options.logger ?? createLogger({ silent: true });
  const backendOpt = options.backend ?? 'local';
  const storageRoot = backendOpt === 'local' ? join(root, 'storage') : backendOpt.webdavUrl;
  let mounts = options.mounts ?? [defaultMount(backendOpt, storageRoot, options.encrypt ?? true)];
  let extra = options.config ?? {};
  let port = 0;
  let running: RunningGateway | undefined;
  let closed = false;

  const build = (): Config =>
    resolveConfig(
      {
        ...extra,
        server: { host: '127.0.0.1', port, ...(extra.server as object | undefined) },
        dataDir,
        store: options.store === 'memory' ? 'memory://'
          : options.store === undefined || options.store === 'sqlite' ? `sqlite://${join(dataDir, 'davcrypt.sqlite')}` : options.store,
        mounts,
        keys: { argon2: { ...TEST_ARGON2 }, ...(extra.keys as object | undefined) },
        // Suites use short passwords; the policy itself is tested in cli-newcomer.test.ts.
        auth: { minPasswordLength: 1, ...(extra.auth as object | undefined) },
      },
      { cwd: root, env: {} },
    );

  const addUsers = async (gw: RunningGateway, wanted: Record<string, string>) => {
    for (const [name, password] of Object.entries(wanted)) {
      if (typeof backendOpt !== 'string' && !backendOpt.webdavUrl.includes('{user}')) await mkcol(backendOpt, `${name}/`);
      if (await gw.users.records.get(name)) continue;
      await gw.users.accounts.add(name, password);
      users[name] = password;
    }
  };

  const start = async (): Promise<RunningGateway> => {
    let config = build();
    let gw: RunningGateway;
    try {
      gw = await startGateway(config, { logger, skipInitialAdmin: true, env: {} });
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' || ((err as { cause?: NodeJS.ErrnoException }).cause)?.code === 'EADDRINUSE';
      if (!inUse || port === 0) throw err;
      port = 0;
      config = build();
      gw = await startGateway(config, { logger, skipInitialAdmin: true, env: {} });
    }
    port = gw.port;
    handle.config = config;
    handle.gateway = gw;
    handle.url = gw.url.endsWith('/') ? gw.url : gw.url + '/';
    handle.port = gw.port;
    return gw;
  };

  const handle = {
    root,
    dataDir,
    storageRoot,
    users,
    authHeader(user?: string) {
      const name = user ?? Object.keys(users)[0];
      if (name === undefined || users[name] === undefined) throw new Error(`no helper user ${String(user)}`);
      return 'Basic ' + Buffer.from(`${name}:${users[name]}`, 'utf8').toString('base64');
    },
    async stop() {
      const gw = running;
      running = undefined;
      await gw?.close();
    },
    async restart(o: RestartOptions = {}) {
      await handle.stop();
      if (o.wipeStore) await rm(dataDir, { recursive: true, force: true });
      if (o.mounts) mounts = o.mounts;
      if (o.config) extra = o.config;
      running = await start();
      if (o.users) await addUsers(running, o.users);
    },
    async configFile() {
      const file = join(root, 'davcrypt.yaml');
      await writeFile(file, JSON.stringify(configAsFile(handle.config), null, 2) + '\n');
      return file;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.stop();
      await rm(root, { recursive: true, force: true });
    },
  } as TestGateway;

  try {
    running = await start();
    await addUsers(running, users);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/** A resolved config in config-file shape (JSON is YAML): absolute paths, literal backend passwords. */
function configAsFile(c: Config): Record<string, unknown> {
  const keys: Record<string, unknown> = { argon2: c.keys.argon2, backendKeyring: c.keys.backendKeyring };
  if (c.keys.mode) keys.mode = c.keys.mode;
  if (c.keys.masterKeyFile) keys.masterKeyFile = c.keys.masterKeyFile;
  return {
    server: { host: c.server.host, port: c.server.port },
    dataDir: c.dataDir,
    store: c.store,
    keys,
    auth: c.auth,
    ...(c.timeouts ? { timeouts: c.timeouts } : {}),
    log: { level: 'warn' },
    mounts: c.mounts.map((m) => {
      const b = m.backend;
      const backend =
        b.type === 'local'
          ? { type: 'local', root: b.root }
          : b.type === 'dropbox'
            ? {
              type: 'dropbox', root: b.root, ...(b.appKey ? { app: { key: b.appKey } } : {}),
              token: b.tokenFile !== undefined ? `file:${b.tokenFile}` : b.token, apiBase: b.apiBase, contentBase: b.contentBase,
            }
            : { type: 'webdav', url: b.url, username: b.username, password: b.password, uploadViaTemp: b.uploadViaTemp };
      return { path: m.path, encrypt: m.encrypt, backend, ...(m.users ? { users: m.users } : {}), ...(m.plaintext ? { plaintext: m.plaintext } : {}) };
    }),
  };
}

function defaultMount(backend: TestGatewayOptions['backend'], storageRoot: string, encrypt: boolean): unknown {
  if (backend === undefined || backend === 'local') return { path: '/', encrypt, backend: { type: 'local', root: join(storageRoot, '{user}') } };
  const base = backend.webdavUrl.endsWith('/') ? backend.webdavUrl : backend.webdavUrl + '/';
  const url = base.includes('{user}') ? base : base + '{user}/';
  const b: Record<string, unknown> = { type: 'webdav', url };
  if (backend.username !== undefined) b.username = backend.username;
  if (backend.password !== undefined) b.password = backend.password;
  if (backend.uploadViaTemp !== undefined) b.uploadViaTemp = backend.uploadViaTemp;
  return { path: '/', encrypt, backend: b };
}

/** Creates a folder on a WebDAV test backend (loopback only); an existing folder is fine. */
async function mkcol(backend: { webdavUrl: string; username?: string; password?: string }, relative: string): Promise<void> {
  const base = backend.webdavUrl.endsWith('/') ? backend.webdavUrl : backend.webdavUrl + '/';
  const headers: Record<string, string> = {};
  if (backend.username !== undefined) {
    headers.authorization = 'Basic ' + Buffer.from(`${backend.username}:${backend.password ?? ''}`).toString('base64');
  }
  const res = await request(new URL(relative, base), { method: 'MKCOL', headers });
  await res.body.dump();
  if (res.statusCode >= 300 && res.statusCode !== 405) throw new Error(`MKCOL ${relative} on the test backend: HTTP ${res.statusCode}`);
}

/** Deterministic test bytes: byte i is (i * 13 + seed) mod 256 (different seeds give different files). */
export function patternBytes(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

/** One request to the gateway with an exact Content-Length; resolves with the status and the whole body. */
export async function gatewayRequest(
  gw: { url: string }, method: string, path: string, opts: { auth?: string; body?: Buffer | string } = {},
): Promise<{ status: number; body: Buffer }> {
  const data = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers: Record<string, string> = {};
  if (opts.auth) headers.authorization = opts.auth;
  if (data) headers['content-length'] = String(data.length);
  const res = await request(new URL(path, gw.url), { method: method as 'GET', body: data, headers });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

/** Two gateway instances on one store URL (e.g. Redis) serving the same local storage: `b` uses `a`'s storage folder. */
export async function startGatewayPair(store: string, users: Record<string, string>, config?: Record<string, unknown>): Promise<{ a: TestGateway; b: TestGateway }> {
  const a = await startTestGateway({ store, users, config });
  try {
    const b = await startTestGateway({
      store, users, config,
      mounts: [{ path: '/', encrypt: true, backend: { type: 'local', root: join(a.storageRoot, '{user}') } }],
    });
    return { a, b };
  } catch (err) {
    await a.close();
    throw err;
  }
}
