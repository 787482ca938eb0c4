// Wires the account pieces for one config and one store: user records,
// keyrings, mount backends, accounts, and (for the gateway) the authenticator.
// Shared by the server (app.ts) and the `user` commands so both behave alike.
import type Keyv from 'keyv';
import { timeoutsOf, type Config } from '../config/types.js';
import { deriveTagKey } from '../crypto/index.js';
import { KeyringService, type MasterKey } from '../keys/index.js';
import type { Logger } from '../logging.js';
import { AccountService } from './accounts.js';
import { GatewayAuthenticator } from './authenticator.js';
import { createBackendLogin } from './backend-login.js';
import { MountBackends } from './mount-backends.js';
import { UserRecords } from './records.js';

export interface UserServices {
  records: UserRecords;
  keyrings: KeyringService;
  backends: MountBackends;
  accounts: AccountService;
  /** Authenticator + MountResolver for the server. */
  authenticator: GatewayAuthenticator;
  /** Stops timers and closes the backends (not the store). */
  close(): Promise<void>;
}

export interface UserServicesOptions {
  /** Master-key mode (keys.mode: master): the opened master key file. The services wipe it on close. */
  master?: MasterKey;
}

export function createUserServices(config: Config, store: Keyv, logger: Logger, options: UserServicesOptions = {}): UserServices {
  const records = new UserRecords(store);
  const master = options.master;
  const keyrings = new KeyringService({
    store,
    logger,
    backendCopy: config.keys.backendKeyring,
    master: master?.identity,
    masterTagKey: master ? deriveTagKey(master.privateKey) : undefined,
    argon2: config.keys.argon2,
  });
  const timeouts = timeoutsOf(config);
  const backends = new MountBackends(config.mounts, logger, {
    connectMs: timeouts.backendConnectSeconds * 1000, headersMs: timeouts.backendHeadersSeconds * 1000, bodyMs: timeouts.backendBodySeconds * 1000,
  });
  const accounts = new AccountService({ records, keyrings, backends, argon2: config.keys.argon2, logger });
  const backendLogin = createBackendLogin(config, logger);
  const authenticator = new GatewayAuthenticator({
    accounts,
    keyrings,
    backends,
    logger,
    argon2: config.keys.argon2,
    cacheIdleSeconds: config.auth.cacheIdleSeconds,
    cacheMaxEntries: config.auth.cacheMaxEntries,
    recheckSeconds: config.auth.recheckSeconds,
    throttle: config.auth.throttle,
    argon2Concurrency: config.auth.argon2Concurrency,
    argon2Queue: config.auth.argon2Queue,
    store,
    master,
    backendSlots: { perUser: timeouts.backendRequestsPerUser, maxWaitMs: timeouts.backendHeadersSeconds * 1000 },
    backendLogin,
  });
  return {
    records,
    keyrings,
    backends,
    accounts,
    authenticator,
    async close() {
      authenticator.close();
      master?.privateKey.fill(0);
      await backends.close();
      await backendLogin?.close();
    },
  };
}
