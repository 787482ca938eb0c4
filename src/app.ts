// Composition root: config → store → users/keys → WebDAV server → listen.
// Owns the lifecycle (close everything it opened, in reverse order). Contains
// no protocol or crypto logic of its own.
import { mkdir, readFile } from 'node:fs/promises';
import type Keyv from 'keyv';
import { masterKeyFileOf } from './config/index.js';
import type { Config } from './config/types.js';
import { readMasterKeyFile } from './keys/index.js';
import { createLogger, type Logger } from './logging.js';
import { createGatewayServer, createLockStore } from './server/index.js';
import { closeStore, createStore } from './store.js';
import { createUserServices, ensureInitialAdmin, type UserServices } from './users/index.js';


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
  /** Stops listening, drops logins, closes backends and the store. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts the gateway. Throws DC_ERR_CONFIG (store, TLS files), listen errors (EADDRINUSE...). */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger({ level: config.log.level, json: config.log.json });
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await createStore(config.store);
  let users: UserServices | undefined;
  try {
    // Master mode: fail at start (not at the first login) when the key file is missing or too open.
    const master = config.keys.mode === 'master' ? await readMasterKeyFile(masterKeyFileOf(config)) : undefined;
    users = createUserServices(config, store, logger, { master });
    if (master) logger.info('master-key mode: mount keys open with the master key file', { file: masterKeyFileOf(config) });
    // With auth.provider: backend, users come from the backend (and a passthrough backend would refuse the probe).
    if (!options.skipInitialAdmin && config.auth.provider !== 'backend') {
      await ensureInitialAdmin({ accounts: users.accounts, store, dataDir: config.dataDir, logger, env: options.env, print: options.print });
    }
    const tls = config.server.tls
      ? { cert: await readFile(config.server.tls.cert), key: await readFile(config.server.tls.key) }
      : undefined;
    const gateway = createGatewayServer({
      authenticator: users.authenticator,
      mountResolver: users.authenticator,
      store,
      lockStore: createLockStore(store), // atomic across instances on redis://
      logger,
      tls,
      realm: config.server.realm,
      quota: config.server.quota,
    });
    const address = await gateway.listen(config.server.port, config.server.host);
    logger.info('davcrypt listening', { url: address.url, mounts: config.mounts.map((m) => m.path) });
    const services = users;
    let closing: Promise<void> | undefined;
    return {
      url: address.url,
      port: address.port,
      host: address.host,
      store,
      users: services,
      logger,
      close() {
        closing ??= (async () => {
          await gateway.close().catch((err: unknown) => logger.warn('server close failed', { error: String(err) }));
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
