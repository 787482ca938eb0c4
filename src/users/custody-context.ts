// Shared pieces of the key-custody commands (recovery, mount grant/revoke, key
// rotate): the keyrings a gateway store knows, the mount a command names, and
// opening an identity (a user's password, the recovery password, the master key
// file) to get mount keys in the clear. Holds private keys only for the caller.
import { timingSafeEqual } from 'node:crypto';
import type Keyv from 'keyv';
import type { Backend } from '../backends/types.js';
import type { Config, MountConfig } from '../config/types.js';
import { deriveTagKey, openIdentity, type Envelope, type Keyring } from '../crypto/index.js';
import { davError } from '../errors.js';
import { formatMountId, getStoredRecovery, keyringIndex, setStoredRecovery, type IdentityInfo, type MasterKey, type MountId } from '../keys/index.js';
import type { Logger } from '../logging.js';
import { assertKeyPair } from './accounts.js';
import { userIdentity } from './names.js';
import type { UserRecord } from './records.js';
import type { UserServices } from './services.js';

/** What the custody commands work with. */
export interface CustodyContext {
  config: Config;
  store: Keyv;
  services: UserServices;
  logger: Logger;
}

/** A keyring the store knows, and the configured mount it belongs to. */
export interface KnownKeyring {
  mountId: MountId;
  mount: MountConfig;
  /** Owner of a per-user mount. */
  user?: string;
}

/** Who opens mount keys for a command: a member's password, the recovery password, or the master key file. */
export type Opener = { kind: 'user'; name: string; password: string } | { kind: 'recovery'; password: string } | { kind: 'master'; key: MasterKey };

/** An opened identity. Wipe privateKey when done. */
export interface OpenedIdentity {
  name: string;
  privateKey: Buffer;
  publicKey: Buffer;
  /** Its envelope (trusted record), for keyring identity entries; none for master. */
  envelope?: Envelope;
}

/** The raw backend of a keyring's mount: the owner's home for a per-user mount, the one backend of a shared mount (no user). */
export function backendOf(ctx: CustodyContext, k: { mount: MountConfig; user?: string }): Promise<Backend> {
  return ctx.services.backends.rawBackend(k.mount, k.user);
}

/** The configured mount at `path` ('/' or '/team'). Throws DC_ERR_USAGE naming the configured mounts. */
export function mountAt(config: Config, path: string): MountConfig {
  const want = path === '/' ? '/' : '/' + path.replace(/^\/+|\/+$/g, '');
  const mount = config.mounts.find((m) => m.path === want);
  if (!mount) throw davError('DC_ERR_USAGE', `no mount at ${want}; configured mounts: ${config.mounts.map((m) => m.path).join(', ')}`);
  return mount;
}

/**
 * Every encrypted keyring the store may hold: the index of saved keyrings, each per-user mount for
 * every user record, every shared mount. Only those resolving to a configured encrypted mount.
 */
export async function knownKeyrings(ctx: CustodyContext): Promise<KnownKeyring[]> {
  const { backends, records } = ctx.services;
  // Keyed and ordered by the stored form, as the store lists them.
  const ids = new Map<string, MountId>();
  const add = (id: MountId) => ids.set(formatMountId(id), id);
  for (const id of await keyringIndex(ctx.store)) add(id);
  const names = await records.names();
  for (const mount of ctx.config.mounts) {
    if (!mount.encrypt) continue;
    if (mount.perUser) for (const n of names) add(backends.mountId(mount, n));
    else add(backends.mountId(mount));
  }
  const out: KnownKeyring[] = [];
  for (const [, mountId] of [...ids].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const found = backends.resolveMountId(mountId);
    if (found?.mount.encrypt) out.push({ mountId, ...found });
  }
  return out;
}

export function identityOfRecord(record: UserRecord): IdentityInfo {
  return { name: userIdentity(record.name), publicKey: Buffer.from(record.publicKey, 'base64'), envelope: record.envelope };
}

/**
 * Opens the recovery identity with its password, from the store only: a recovery identity found in
 * a backend keyring is never adopted here (after a lost store, `davcrypt recovery restore` puts it
 * back, proven by the recovery password). Leaves the recovery tag key in the store when it is not
 * there yet, so the gateway tags wraps to recovery from then on. Throws DC_ERR_NO_ACCESS (none
 * set up), DC_ERR_WRONG_PASSWORD, DC_ERR_KEYRING_INVALID.
 */
export async function openRecovery(ctx: CustodyContext, password: string): Promise<OpenedIdentity> {
  const stored = await getStoredRecovery(ctx.store);
  if (!stored) {
    throw davError(
      'DC_ERR_NO_ACCESS',
      'the store holds no recovery identity (run: davcrypt recovery init --config FILE; after a lost store: davcrypt recovery restore --config FILE)',
    );
  }
  const privateKey = await openIdentity(stored.envelope, 'recovery', password);
  assertKeyPair(privateKey, stored.publicKey, 'recovery');
  if (!stored.tagKey) {
    await setStoredRecovery(ctx.store, { ...stored, tagKey: deriveTagKey(privateKey).toString('base64') });
    ctx.logger.info('recovery tag key stored: the gateway now tags wraps to the recovery identity');
  }
  return { name: 'recovery', privateKey, publicKey: Buffer.from(stored.publicKey, 'base64'), envelope: stored.envelope };
}

/** Opens the identity an Opener names. Throws DC_ERR_NOT_FOUND (no such user), DC_ERR_WRONG_PASSWORD, DC_ERR_NO_ACCESS. */
export async function openOpener(ctx: CustodyContext, opener: Opener): Promise<OpenedIdentity> {
  if (opener.kind === 'recovery') return openRecovery(ctx, opener.password);
  if (opener.kind === 'master') {
    return { name: opener.key.identity.name, privateKey: Buffer.from(opener.key.privateKey), publicKey: opener.key.publicKey };
  }
  const record = await ctx.services.records.get(opener.name);
  if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${opener.name}; see davcrypt user list`);
  const name = userIdentity(opener.name);
  const privateKey = await openIdentity(record.envelope, name, opener.password);
  assertKeyPair(privateKey, record.publicKey, name);
  return { name, privateKey, publicKey: Buffer.from(record.publicKey, 'base64'), envelope: record.envelope };
}

/** True when the keyring's entry for `name` holds exactly this public key (wraps to it are trustworthy). */
export function holdsPublicKey(keyring: Keyring, name: string, publicKey: Buffer): boolean {
  const entry = keyring.identities[name];
  if (!entry) return false;
  const have = Buffer.from(entry.publicKey, 'base64');
  return have.length === publicKey.length && timingSafeEqual(have, publicKey);
}

/**
 * The identities of a trusted keyring that trusted records confirm (same public key): users with
 * a user record, the store's recovery identity, the configured master identity. The recipients of
 * a new key (rotate, revoke): an identity that only the keyring names gets no wrap.
 */
export async function trustedRecipients(ctx: CustodyContext, keyring: Keyring): Promise<IdentityInfo[]> {
  const out: IdentityInfo[] = [];
  const recovery = await getStoredRecovery(ctx.store);
  for (const [name, entry] of Object.entries(keyring.identities)) {
    let confirmed: string | undefined;
    if (name === 'recovery') confirmed = recovery?.publicKey;
    else if (name === 'master') confirmed = ctx.services.keyrings.masterIdentity?.publicKey.toString('base64');
    else if (name.startsWith('user:')) confirmed = (await ctx.services.records.get(name.slice(5)))?.publicKey;
    if (confirmed !== undefined && confirmed === entry.publicKey) {
      out.push({ name, publicKey: Buffer.from(entry.publicKey, 'base64'), envelope: entry.envelope });
    }
  }
  return out;
}

/**
 * Opens the store and user services of a config for one custody command (master key file loaded
 * when keys.mode is master or `withMaster`). Call close() when done. Throws DC_ERR_CONFIG.
 */
export async function openCustody(config: Config, options: { logger: Logger; withMaster?: boolean }): Promise<CustodyContext & { master?: MasterKey; close(): Promise<void> }> {
  const [{ createStore, closeStore }, { readMasterKeyFile }, { masterKeyFileOf }, { createUserServices }] = await Promise.all([
    import('../store.js'),
    import('../keys/index.js'),
    import('../config/index.js'),
    import('./services.js'),
  ]);
  const master = config.keys.mode === 'master' || options.withMaster ? await readMasterKeyFile(masterKeyFileOf(config)) : undefined;
  const store = await createStore(config.store);
  const services = createUserServices(config, store, options.logger, { master: master ? { ...master, privateKey: Buffer.from(master.privateKey) } : undefined });
  return {
    config,
    store,
    services,
    logger: options.logger,
    master,
    async close() {
      master?.privateKey.fill(0);
      await services.close();
      await closeStore(store);
    },
  };
}
