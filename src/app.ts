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
import { startOps } from './ops/index.js';
import { clientAddressOf, createGatewayServer, createLockStore, readTlsMaterial, trustedProxyList, warnIfPlainHttp } from './server/index.js';
import { closeStore, createStore } from './store.js';
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
  /** Stops listening, drops logins, closes backends and the store. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts the gateway. Throws DC_ERR_CONFIG (store, TLS files), listen errors (EADDRINUSE...). */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger({ level: config.log.level, json: config.log.json });
  assertNoLegacyStorage(config); // files still in <dataDir>/storage: refuse before a store or home is made
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await createStore(config.store);
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
    if (!options.skipInitialAdmin) {
      await ensureInitialAdmin({
        accounts: users.accounts, store, dataDir: config.dataDir, logger, env: options.env, print: options.print,
        minPasswordLength: config.auth.minPasswordLength,
      });
    }
    const tls = config.server.tls ? await readTlsMaterial(config.server.tls) : undefined;
    const services = users;
    const ops = await startOps(config, { store, logger, loginCacheSize: () => services.authenticator.stats().cacheSize });
    const webConfig = config.web ?? { enabled: true, shares: true, sessionHours: 12 };
    const web = webConfig.enabled ? createWebFront({
      store, authenticator: users.authenticator, logger, secure: !!tls,
      clientAddress: clientAddressFor(config.server.trustedProxies ?? []),
      sessionTtlMs: webConfig.sessionHours * 3_600_000,
      ...(webConfig.shares ? { shares: { argon2: config.keys.argon2, authenticator: users.authenticator, mountResolver: users.authenticator } } : {}),
    }) : undefined;
    const gateway = createGatewayServer({
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
    });
    const address = await gateway.listen(config.server.port, config.server.host).catch(async (err: unknown) => {
      await ops.close();
      throw err;
    });
    await ops.attach(gateway.server).catch(async (err: unknown) => {
      await gateway.close().catch(() => undefined);
      await ops.close();
      throw err;
    });
    logger.info('davcrypt listening', { url: address.url, mounts: config.mounts.map((m) => m.path) });
    warnIfPlainHttp(logger, address.host, !!tls);
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
      close() {
        closing ??= (async () => {
          ops.readiness.drain(); // ops: /readyz answers 503 from now on
          await gateway.close().catch((err: unknown) => logger.warn('server close failed', { error: String(err) }));
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

/** The client address as the WebDAV front computes it (X-Forwarded-For only from trusted proxies). */
function clientAddressFor(proxies: string[]): (req: IncomingMessage) => string {
  const list = proxies.length ? trustedProxyList(proxies) : undefined;
  return (req) => clientAddressOf(req, list);
}
