// Config form of the tools: finds a configured mount, opens its raw backend and the
// gateway's store, and unlocks the mount's keys with a user's password (her user
// record) or the recovery identity (the store's), from the keyring the gateway trusts
// (store copy, plus backend keys the identity's own keyring tag vouches for; never
// trust on first use). Uses the users/keys services.
import { timingSafeEqual } from 'node:crypto';
import type { Backend } from '../backends/index.js';
import type { Config, MountConfig } from '../config/index.js';
import { openIdentity, publicKeyFromPrivate, type Envelope } from '../crypto/index.js';
import { davError } from '../errors.js';
import { createMountKeySet, currentId, type IdentityInfo, type MountKeySet } from '../keys/index.js';
import { createLogger } from '../logging.js';
import { closeStore, createStore } from '../store.js';
import { createUserServices, userIdentity, type UserRecord, type UserServices } from '../users/index.js';
import type { UnlockedKeyring } from './identity-keys.js';

export interface ConfiguredMountOptions {
  /** Mount path as in the config ('/' or '/team'; default '/'). */
  mountPath?: string;
  /** User whose home a per-user mount is, and whose identity opens the keys unless `recovery`. */
  user?: string;
  /** Open the keys with the recovery identity instead of the user's. */
  recovery?: boolean;
  password: string;
  /** encrypt-all: create the mount's first key when it has no keyring yet (user identity only). */
  createKeys?: boolean;
}

export interface ConfiguredMount {
  mount: MountConfig;
  mountId: string;
  /** The mount's raw backend (not decrypting). */
  backend: Backend;
  /** Every key the identity holds; `current` is the keyring's current key when held. */
  keys: MountKeySet;
  unlocked: UnlockedKeyring;
  /** Closes the backends and the store. */
  close(): Promise<void>;
}

/** The mount at `path` in the config. Throws DC_ERR_USAGE naming the configured mounts. */
export function findMount(config: Config, path: string = '/'): MountConfig {
  const want = path === '/' ? '/' : '/' + path.replace(/^\/+|\/+$/g, '');
  const mount = config.mounts.find((m) => m.path === want);
  if (!mount) {
    throw davError('DC_ERR_USAGE', `no mount at ${want}; configured mounts: ${config.mounts.map((m) => m.path).join(', ') || 'none'}`);
  }
  return mount;
}

/**
 * Opens a configured mount and its keys. Throws DC_ERR_USAGE (unknown mount, per-user mount
 * without --user), DC_ERR_NOT_FOUND (no such user), DC_ERR_WRONG_PASSWORD, DC_ERR_NO_ACCESS
 * (no keyring, or no key for this identity), DC_ERR_KEYRING_INVALID, store and backend errors.
 */
export async function openConfiguredMount(config: Config, opts: ConfiguredMountOptions): Promise<ConfiguredMount> {
  const mount = findMount(config, opts.mountPath);
  if (!opts.user && (mount.perUser || !opts.recovery)) {
    throw davError('DC_ERR_USAGE', mount.perUser ? `mount ${mount.path} is per-user: give --user NAME` : 'give --user NAME or --recovery');
  }
  const store = await createStore(config.store);
  const services = createUserServices(config, store, createLogger({ level: 'warn', json: false }));
  const close = async () => {
    await services.close();
    await closeStore(store);
  };
  try {
    // A shared mount has no {user} in its location: any valid name resolves it.
    const who = opts.user ?? 'recovery';
    const backend = await services.backends.rawBackend(mount, who);
    const mountId = services.backends.mountId(mount, who);
    const { unlocked, keys } = await unlockMount(services, mount, mountId, backend, opts);
    return { mount, mountId, backend, keys, unlocked, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

async function unlockMount(
  services: UserServices,
  mount: MountConfig,
  mountId: string,
  backend: Backend,
  opts: ConfiguredMountOptions,
): Promise<{ unlocked: UnlockedKeyring; keys: MountKeySet }> {
  const identity = opts.recovery ? 'recovery' : userIdentity(opts.user!);
  let record: UserRecord | undefined;
  let envelope: Envelope;
  let publicKey: string;
  if (opts.recovery) {
    const rec = await services.keyrings.recoveryIdentity();
    if (!rec) throw davError('DC_ERR_NO_ACCESS', 'the gateway store holds no recovery identity (after a lost store: davcrypt recovery restore)');
    envelope = rec.envelope!;
    publicKey = rec.publicKey.toString('base64');
  } else {
    record = await services.records.get(opts.user!);
    if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${opts.user}; see davcrypt user list`);
    envelope = record.envelope;
    publicKey = record.publicKey;
  }
  const privateKey = await openIdentity(envelope, identity, opts.password);
  try {
    const expected = Buffer.from(publicKey, 'base64');
    const actual = publicKeyFromPrivate(privateKey);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw davError('DC_ERR_KEYRING_INVALID', `identity ${identity}: envelope does not match its public key`);
    }
    const opener = { name: identity, privateKey, envelope };
    if (opts.createKeys && record) {
      // Same path as a login: creates the mount key (wrapped to the members and recovery) when the
      // gateway trusts none, takes over the keys her tags vouch for, writes her tags.
      const members = await membersOf(services, mount, record);
      await services.keyrings.unlockOrCreate(mountId, backend, opener, members);
    }
    const { keyring, held } = await services.keyrings.trusted(mountId, backend, [opener]);
    if (!keyring) {
      throw davError('DC_ERR_NO_ACCESS', `mount ${mount.path} has no keyring the gateway trusts yet (no encrypted file was ever written to it through the gateway)`);
    }
    if (held.length === 0) throw davError('DC_ERR_NO_ACCESS', `no key of mount ${mount.path} is wrapped to ${identity}`);
    const currentHex = currentId(keyring);
    const current = held.find((k) => k.id.toString('hex') === currentHex);
    if (opts.createKeys && !current) {
      throw davError('DC_ERR_NO_ACCESS', `the current key of mount ${mount.path} is not wrapped to ${identity}`);
    }
    const unlocked: UnlockedKeyring = {
      keys: new Map(held.map((k) => [k.id.toString('hex'), k.key])),
      unauthenticated: new Map(),
      current: currentHex,
      holdsCurrent: current !== undefined,
      unwrapFailures: [],
    };
    return { unlocked, keys: createMountKeySet(held, current ?? held[0]!) };
  } finally {
    privateKey.fill(0);
  }
}

async function membersOf(services: UserServices, mount: MountConfig, self: UserRecord): Promise<IdentityInfo[]> {
  const identityOf = (r: UserRecord): IdentityInfo => ({
    name: userIdentity(r.name),
    publicKey: Buffer.from(r.publicKey, 'base64'),
    envelope: r.envelope,
  });
  if (mount.perUser) return [identityOf(self)];
  const users = mount.users ?? ['*'];
  const records = users.includes('*')
    ? await services.records.list()
    : await Promise.all(users.map((u) => (u === self.name ? self : services.records.get(u))));
  const out = records.filter((r): r is UserRecord => r !== undefined).map(identityOf);
  if (!out.some((m) => m.name === userIdentity(self.name))) out.push(identityOf(self));
  return out;
}
