// Composition root: config → store → users/keys → WebDAV server → listen.
// Owns the lifecycle (close everything it opened, in reverse order). Contains
// no protocol or crypto logic of its own.
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type Keyv from 'keyv';
import { assertNoLegacyStorage, masterKeyFileOf } from './config/index.js';
import type { Config } from './config/types.js';
import { readMasterKeyFile } from './keys/index.js';
import { createLogger, type Logger } from './logging.js';
import { removeStaleTempFiles } from './backends/index.js';
import { timeoutsOf } from './config/index.js';
import { davError, toDavcryptError, type DavcryptError } from './errors.js';
import { startOps } from './ops/index.js';
import type { HealthProbe } from './ops/readiness.js';
import {
  clientAddressOf, createGatewayServer, createLockStore, readTlsMaterial, trustedProxyList, warnIfPlainHttp,
  type GatewayServer, type HealthReport,
} from './server/index.js';
import { closeStore, createStore, storeHealth } from './store.js';
import { createUserServices, ensureInitialAdmin, type UserServices } from './users/index.js';
import { createWebFront } from './web/index.js';


export interface StartOptions {
  logger?: Logger;
  /** Environment for DAVCRYPT_ADMIN_PASSWORD (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where the one-time initial admin password line goes (default stdout). */
  print?: (line: string) => void;
  /** Skip creating the initial admin (tests that add their own users). */
  skipInitialAdmin?: boolean;
  /** Refuse to start when a mount's storage cannot be reached or misses its base folder (`serve --strict`). */
  strict?: boolean;
  /** A worker of `davcrypt serve` with server.workers > 1: /metrics reports every worker (through the primary). */
  clusterWorker?: boolean;
}

export interface RunningGateway {
  /** Base URL, e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  host: string;
  store: Keyv;
  users: UserServices;
  logger: Logger;
  /** Base URL of the metrics listener (server.metrics), when configured. */
  metricsUrl?: string;
  /** Re-reads server.tls files for new connections (SIGHUP). False without TLS; throws DC_ERR_CONFIG (old certificate kept). */
  reloadTls(): Promise<boolean>;
  /**
   * Stops listening, lets requests in flight finish for up to `graceMs` (default: none, they are
   * cut), then drops logins, closes backends and the store. Safe to call twice.
   */
  close(graceMs?: number): Promise<void>;
  /** Store and mount storage state, as the health endpoint reports it. */
  health(): Promise<HealthReport>;
}

/** Starts the gateway. Throws DC_ERR_CONFIG (store, TLS files, port, host, data folder, `strict` mount checks). */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger({ level: config.log.level, json: config.log.json });
  assertNoLegacyStorage(config); // files still in <dataDir>/storage: refuse before a store or home is made
  const timeouts = timeoutsOf(config);
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw davError('DC_ERR_CONFIG', `dataDir: cannot create ${config.dataDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
      'choose a folder this user may write (dataDir or DAVCRYPT_DATA_DIR)', { cause: err });
  }
  const store = await createStore(config.store, undefined, { opTimeoutMs: timeouts.storeSeconds * 1000 });
  watchStore(store, logger);
  let users: UserServices | undefined;
  try {
    // Master mode: fail at start (not at the first login) when the key file is missing or too open.
    const master = config.keys.mode === 'master' ? await readMasterKeyFile(masterKeyFileOf(config)) : undefined;
    users = createUserServices(config, store, logger, { master });
    if (master) logger.info('master-key mode: mount keys open with the master key file', { file: masterKeyFileOf(config) });
    for (const m of config.mounts) {
      if (m.encrypt && m.plaintext === 'read') {
        logger.warn('mount serves stored files without the DAVCRYPT magic as plaintext (plaintext: read): the backend can replace any such file unnoticed; run davcrypt encrypt-all, then remove the setting', { mount: m.path });
      }
    }
    await checkMounts(config, users, logger, options.strict === true, timeouts.backendConnectSeconds * 1000 + 5_000);
    // With auth.provider: backend, users come from the backend (and a passthrough backend would refuse the probe).
    if (!options.skipInitialAdmin && config.auth.provider !== 'backend') {
      await ensureInitialAdmin({
        accounts: users.accounts, store, dataDir: config.dataDir, logger, env: options.env, print: options.print,
        minPasswordLength: config.auth.minPasswordLength,
      });
    }
    const tls = config.server.tls ? await readTlsMaterial(config.server.tls) : undefined;
    const services = users;
    const ops = await startOps(config, {
      store, logger, loginCacheSize: () => services.authenticator.stats().cacheSize, probes: readinessProbes(config, store, services),
      clusterWorker: options.clusterWorker,
    });
    // One set of checks: health() reports what /readyz (and its alias, the old health path) answer.
    const health = async (): Promise<HealthReport> => {
      const r = await ops.readiness.check();
      const checks: HealthReport['checks'] = {};
      for (const [name, c] of Object.entries(r.checks)) checks[name] = { ok: c.ok, ms: c.ms, ...(c.ok ? {} : { error: c.reason ?? 'error' }) };
      return { ok: r.ready, checks };
    };
    const webConfig = config.web ?? { enabled: true, shares: true, sessionHours: 12 };
    const web = webConfig.enabled ? createWebFront({
      store, authenticator: users.authenticator, logger, secure: !!tls,
      clientAddress: clientAddressFor(config.server.trustedProxies ?? []),
      sessionTtlMs: webConfig.sessionHours * 3_600_000,
      ...(webConfig.shares ? { shares: { argon2: config.keys.argon2, authenticator: users.authenticator, mountResolver: users.authenticator } } : {}),
    }) : undefined;
    let gateway: GatewayServer;
    try {
      gateway = createGatewayServer({
        ...(web ? { web } : {}), // web: the browser page, session cookies, share links (src/web)
        front: ops.front, // ops: /livez, /readyz (and the old health path) before WebDAV
        authenticator: users.authenticator,
        mountResolver: users.authenticator,
        store,
        lockStore: createLockStore(store), // atomic across instances on redis://
        logger,
        tls,
        realm: config.server.realm,
        quota: config.server.quota,
        trustedProxies: config.server.trustedProxies,
        ...(config.server.limits ? { limits: { ...config.server.limits, maxXmlBodyBytes: config.server.limits.xmlBodyBytes } } : {}),
        uploadIdleMs: timeouts.uploadIdleSeconds * 1000,
        health,
      });
    } catch (err) {
      await ops.close();
      throw davError('DC_ERR_CONFIG', `server.tls: cannot use the certificate and key (${(err as Error).message}); ` +
        'give a PEM certificate in server.tls.cert and ITS private key (unencrypted PEM) in server.tls.key', { cause: err });
    }
    const address = await gateway.listen(config.server.port, config.server.host).catch(async (err: unknown) => {
      await ops.close();
      throw listenError(err, config.server.host, config.server.port);
    });
    await ops.attach(gateway.server).catch(async (err: unknown) => {
      await gateway.close().catch(() => undefined);
      await ops.close();
      throw err;
    });
    logger.info('davcrypt listening', { url: address.url, mounts: config.mounts.map((m) => m.path) });
    warnIfPlainHttp(logger, address.host, !!tls);
    const stopping = new AbortController();
    sweepLocalTemps(config, logger, 2 * timeouts.uploadIdleSeconds * 1000, stopping.signal);
    let closing: Promise<void> | undefined;
    return {
      url: address.url,
      port: address.port,
      host: address.host,
      store,
      users: services,
      logger,
      metricsUrl: ops.metricsUrl,
      async reloadTls() {
        if (!config.server.tls) return false;
        gateway.setTls(await readTlsMaterial(config.server.tls));
        return true;
      },
      health,
      close(graceMs = 0) {
        closing ??= (async () => {
          stopping.abort();
          ops.readiness.drain(); // ops: /readyz answers 503 from now on
          await gateway.close(graceMs).catch((err: unknown) => logger.warn('server close failed', { error: String(err) }));
          await ops.close().catch((err: unknown) => logger.warn('ops close failed', { error: String(err) }));
          await services.close();
          await closeStore(store);
        })();
        return closing;
      },
    };
  } catch (err) {
    await users?.close().catch(() => undefined);
    await closeStore(store).catch(() => undefined);
    throw err;
  }
}

/** A listen failure as DC_ERR_CONFIG naming the key and the fix. */
function listenError(err: unknown, host: string, port: number): DavcryptError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const detail = { cause: err, details: { host, port } };
  switch (code) {
    case 'EADDRINUSE':
      return davError('DC_ERR_CONFIG', `server.port: ${host}:${port} is already in use; stop the other process or choose another port (server.port or DAVCRYPT_PORT)`, detail);
    case 'EACCES':
      return davError('DC_ERR_CONFIG', `server.port: no permission to listen on port ${port}; use a port above 1023 or grant CAP_NET_BIND_SERVICE`, detail);
    case 'ENOTFOUND': case 'EAI_AGAIN': case 'EAI_NONAME':
      return davError('DC_ERR_CONFIG', `server.host: ${host} does not resolve; give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0 (server.host or DAVCRYPT_HOST)`, detail);
    case 'EADDRNOTAVAIL':
      return davError('DC_ERR_CONFIG', `server.host: ${host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own addresses (server.host or DAVCRYPT_HOST)`, detail);
    default:
      return davError('DC_ERR_CONFIG', `server: cannot listen on ${host}:${port} (${code ?? (err as Error)?.message}); check server.host and server.port`, detail);
  }
}

/** Names every mount whose storage is unreachable or misses its base folder: a warning, or a refusal when strict. */
async function checkMounts(config: Config, users: UserServices, logger: Logger, strict: boolean, timeoutMs: number): Promise<void> {
  const problems: string[] = [];
  await Promise.all(config.mounts.map(async (mount, i) => {
    try {
      await users.backends.checkBase(mount, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      const e = toDavcryptError(err);
      const key = `mounts[${i}].backend.${mount.backend.type === 'local' ? 'root' : 'url'}`;
      const fix = e.code === 'DC_ERR_NOT_FOUND' || e.code === 'DC_ERR_CONFLICT'
        ? 'create the folder on the storage (the part above {user}) or fix the path'
        : e.code === 'DC_ERR_BACKEND_UNAUTHORIZED' ? 'fix the backend username/password' : 'check that the storage server runs and the URL is right';
      problems.push(`${key}: ${e.code}: ${e.message}; ${fix}`);
    }
  }));
  if (problems.length === 0) return;
  if (strict) throw davError('DC_ERR_CONFIG', `mount storage not usable (serve --strict):\n  ${problems.join('\n  ')}`);
  for (const problem of problems) logger.warn('mount storage not usable; its requests will fail until this is fixed', { problem });
}

/**
 * /readyz probes: the store through its own deadline, and each mount's storage base as the start-up
 * check sees it (the part above {user} of a per-user mount), so readiness and `serve --strict` agree.
 */
function readinessProbes(config: Config, store: Keyv, users: UserServices): HealthProbe[] {
  return [
    {
      name: 'store',
      async probe() {
        const r = await storeHealth(store, 2_000);
        if (!r.ok) throw davError('DC_ERR_STORE_UNAVAILABLE', r.error ?? 'store unavailable');
      },
    },
    ...config.mounts.map((mount): HealthProbe => ({ name: `backend ${mount.path}`, probe: (signal) => users.backends.checkBase(mount, signal) })),
  ];
}

/** Logs store connection errors (a stopped Redis), at most one line per 10 s. */
function watchStore(store: Keyv, logger: Logger): void {
  let lastLog = 0;
  let suppressed = 0;
  store.on('error', (err: unknown) => {
    const now = Date.now();
    if (now - lastLog < 10_000) {
      suppressed += 1;
      return;
    }
    lastLog = now;
    logger.warn('store connection error', { error: (err as Error)?.message ?? String(err), ...(suppressed ? { suppressed } : {}) });
    suppressed = 0;
  });
}

/**
 * Local storage: temp files left by a gateway killed mid-write are removed at start, in the
 * background (only davcrypt's own temp names, see TEMP_NAME). A temp file still being written
 * (by another gateway on the same folder) changes at least every upload idle timeout, so only
 * files unchanged for twice that go: at start, and once more when the younger ones have aged.
 */
function sweepLocalTemps(config: Config, logger: Logger, minAgeMs: number, signal: AbortSignal): void {
  const folders = new Set<string>();
  for (const mount of config.mounts) {
    if (mount.backend.type !== 'local') continue;
    const root = mount.backend.root;
    folders.add(root.includes('{user}') ? root.slice(0, root.indexOf('{user}')) : root);
  }
  const sweep = () => {
    for (const folder of folders) {
      void removeStaleTempFiles(folder, minAgeMs, signal).then((removed) => {
        if (removed > 0) logger.info('removed temp files left by an interrupted write', { folder, removed });
      });
    }
  };
  sweep();
  const again = setTimeout(sweep, minAgeMs + 1_000);
  again.unref();
  signal.addEventListener('abort', () => clearTimeout(again), { once: true });
}

/** The client address as the WebDAV front computes it (X-Forwarded-For only from trusted proxies). */
function clientAddressFor(proxies: string[]): (req: IncomingMessage) => string {
  const list = proxies.length ? trustedProxyList(proxies) : undefined;
  return (req) => clientAddressOf(req, list);
}
