// Config form of the tools: finds a configured mount, opens its raw backend and the
// gateway's store, and unlocks the mount's keys with a user's password (her user
// record), the recovery identity (the store's) or the master key file, from the keyring the gateway trusts
// (store copy, plus backend keys the identity's own keyring tag vouches for; never
// trust on first use). Uses the users/keys services.
import { timingSafeEqual } from 'node:crypto';
import type { Backend } from '../backends/index.js';
import type { Config, MountConfig } from '../config/index.js';
import { openIdentity, publicKeyFromPrivate, type Envelope } from '../crypto/index.js';
import { davError } from '../errors.js';
import { MASTER_IDENTITY, createMountKeySet, currentId, type IdentityInfo, type MasterKey, type MountId, type MountKeySet } from '../keys/index.js';
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
  /** Open the keys with the master identity (this opened master key file) instead; no password. */
  master?: MasterKey;
  /** The password of the user or of the recovery identity (unused with `master`). */
  password?: string;
  /** encrypt-all: create the mount's first key when it has no keyring yet (wrapped to its members, recovery, master). */
  createKeys?: boolean;
}

export interface ConfiguredMount {
  mount: MountConfig;
  mountId: MountId;
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
  if (!opts.user && (mount.perUser || (!opts.recovery && !opts.master))) {
    throw davError('DC_ERR_USAGE', mount.perUser ? `mount ${mount.path} is per-user: give --user NAME` : 'give --user NAME, --recovery or --master-key FILE');
  }
  const store = await createStore(config.store);
  // With the master key, new keys get their master wrap as the master-mode gateway gives them.
  const services = createUserServices(config, store, createLogger({ level: 'warn', json: false }), { master: opts.master });
  const close = async () => {
    await services.close();
    await closeStore(store);
  };
  try {
    // opts.user is the owner of a per-user mount (checked above); a shared mount needs no user.
    const owner = mount.perUser ? opts.user : undefined;
    const backend = await services.backends.rawBackend(mount, owner);
    const mountId = services.backends.mountId(mount, owner);
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
  mountId: MountId,
  backend: Backend,
  opts: ConfiguredMountOptions,
): Promise<{ unlocked: UnlockedKeyring; keys: MountKeySet }> {
  const identity = opts.master ? MASTER_IDENTITY : opts.recovery ? 'recovery' : userIdentity(opts.user!);
  let record: UserRecord | undefined;
  let envelope: Envelope | undefined;
  let publicKey: string;
  if (opts.master) {
    publicKey = opts.master.publicKey.toString('base64');
  } else if (opts.recovery) {
    const rec = await services.keyrings.recoveryIdentity();
    if (!rec) throw davError('DC_ERR_NO_ACCESS', 'the gateway store holds no recovery identity (after a lost store: davcrypt recovery restore)');
    envelope = rec.envelope;
    publicKey = rec.publicKey.toString('base64');
  } else {
    record = await services.records.get(opts.user!);
    if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${opts.user}; see davcrypt user list`);
    envelope = record.envelope;
    publicKey = record.publicKey;
  }
  const privateKey = opts.master ? Buffer.from(opts.master.privateKey) : await openIdentity(envelope!, identity, opts.password ?? '');
  try {
    const expected = Buffer.from(publicKey, 'base64');
    const actual = publicKeyFromPrivate(privateKey);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw davError('DC_ERR_KEYRING_INVALID', `identity ${identity}: envelope does not match its public key`);
    }
    const opener = { name: identity, privateKey, envelope };
    if (opts.createKeys) {
      // Same path as a login: creates the mount key (wrapped to the members, recovery and master)
      // when the gateway trusts none, takes over the keys the opener's tags vouch for, writes its tags.
      const members = await membersOf(services, mount, record ?? (mount.perUser ? await ownerRecord(services, opts.user!) : undefined));
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

/** The owner of a per-user home, who must exist to be given the home's first key. Throws DC_ERR_NOT_FOUND. */
async function ownerRecord(services: UserServices, name: string): Promise<UserRecord> {
  const record = await services.records.get(name);
  if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${name}; see davcrypt user list`);
  return record;
}

/** The identities a new mount key is wrapped to: the config's members with a record (and `self`, a user opening it). */
async function membersOf(services: UserServices, mount: MountConfig, self: UserRecord | undefined): Promise<IdentityInfo[]> {
  const identityOf = (r: UserRecord): IdentityInfo => ({
    name: userIdentity(r.name),
    publicKey: Buffer.from(r.publicKey, 'base64'),
    envelope: r.envelope,
  });
  if (mount.perUser) return self ? [identityOf(self)] : [];
  const users = mount.users ?? ['*'];
  const records = users.includes('*')
    ? await services.records.list()
    : await Promise.all(users.map((u) => (u === self?.name ? self : services.records.get(u))));
  const out = records.filter((r): r is UserRecord => r !== undefined).map(identityOf);
  if (self && !out.some((m) => m.name === userIdentity(self.name))) out.push(identityOf(self));
  return out;
}
