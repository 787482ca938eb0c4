// Keeps each encrypted mount's keyring (docs/DESIGN.md §4): the store copy is the
// source of truth; the backend copy at <mount root>/.davcrypt/keyring.json is an
// escrow rewritten from it, read only when the store has none (trust on first
// use). Creates, unlocks and grants mount keys. Never sees passwords: callers
// hand it already-opened identity private keys.
import { Readable } from 'node:stream';
import type Keyv from 'keyv';
import { KEYRING_DIR, KEYRING_PATH } from '../backends/layout.js';
import type { Backend } from '../backends/types.js';
import { publishKey } from '../events.js';
import {
  newMountKey,
  parseKeyring,
  serializeKeyring,
  unwrapMountKey,
  wrapMountKey,
  type Envelope,
  type Keyring,
} from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';
import { createStoreMutex, type DistributedMutex } from '../store-mutex.js';
import { addToKeyringIndex, getStoredRecovery, keyringIndex, revokedUsers } from './custody-store.js';
import { createMountKeySet } from './keyset.js';
import type { MountKey, MountKeySet } from './types.js';

export { KEYRING_DIR, KEYRING_PATH };
const STORE_PREFIX = 'keyring:';

/** An identity a key may be wrapped to, from a trusted source (the store). */
export interface IdentityInfo {
  /** 'user:alice', 'recovery', 'master'. */
  name: string;
  /** Raw 32-byte X25519 public key. */
  publicKey: Buffer;
  /** Password envelope of the private key, copied into the keyring for recovery. */
  envelope?: Envelope;
}

/** An identity whose private key is open (the logged-in user). */
export interface OpenIdentity {
  name: string;
  privateKey: Buffer;
}

export interface KeyringServiceOptions {
  store: Keyv;
  logger: Logger;
  /** Write the backend copy (config keys.backendKeyring; default true). */
  backendCopy?: boolean;
  /** Master-key mode: the `master` identity (public key only) every key is also wrapped to. */
  master?: IdentityInfo;
  /** Serializes keyring read-modify-write across every process sharing the store (default createStoreMutex(store)). */
  mutex?: DistributedMutex;
}

export class KeyringService {
  private readonly store: Keyv;
  private readonly logger: Logger;
  private readonly backendCopy: boolean;
  private readonly master?: IdentityInfo;
  private readonly mutex: DistributedMutex;
  private readonly reconciled = new Set<string>();

  constructor(options: KeyringServiceOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.backendCopy = options.backendCopy ?? true;
    this.master = options.master;
    // One keyring edit at a time per mount across gateway instances and CLI commands (first-key race,
    // grant/revoke/rotate from the CLI while a login wraps keys).
    this.mutex = options.mutex ?? createStoreMutex(this.store);
  }

  /** The store copy, or undefined. Throws DC_ERR_KEYRING_INVALID if the store holds garbage. */
  async getStored(mountId: string): Promise<Keyring | undefined> {
    const text = await this.store.get<string>(STORE_PREFIX + mountId);
    return text === undefined ? undefined : parseKeyring(text);
  }

  /** The backend copy, or undefined when there is none. Throws DC_ERR_KEYRING_INVALID, backend errors. */
  async readBackendCopy(backend: Backend): Promise<Keyring | undefined> {
    let text: string;
    try {
      const { body } = await backend.read(KEYRING_PATH);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body) {
        total += (chunk as Buffer).length;
        if (total > 16 * 1024 * 1024) {
          body.destroy();
          throw davError('DC_ERR_KEYRING_INVALID', `keyring on ${backend.name} is larger than 16 MiB`);
        }
        chunks.push(chunk as Buffer);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_CONFLICT')) return undefined;
      throw err;
    }
    return parseKeyring(text);
  }

  /**
   * The keyring the gateway trusts for a mount: the store copy; if the store has none, the backend
   * copy (trust on first use; it is then saved into the store). The first call per process also
   * compares the backend copy with the store copy, warns about anything only the backend has, and
   * rewrites the backend copy. Returns undefined when neither exists.
   */
  async load(mountId: string, backend: Backend): Promise<Keyring | undefined> {
    const stored = await this.getStored(mountId);
    if (stored) {
      if (this.backendCopy && !this.reconciled.has(mountId)) {
        this.reconciled.add(mountId);
        await this.reconcile(mountId, backend, stored);
      }
      return stored;
    }
    const found = await this.readBackendCopy(backend);
    if (!found) return undefined;
    this.logger.warn('keyring adopted from backend (store had none: new installation or lost store)', {
      mount: mountId,
      backend: backend.name,
      identities: Object.keys(found.identities),
    });
    publishKey({ operation: 'adopt', mount: mountId, identities: Object.keys(found.identities) }); // ops
    await this.store.set(STORE_PREFIX + mountId, serializeKeyring(found));
    this.reconciled.add(mountId);
    return found;
  }

  /** Saves to the store, then (unless disabled) atomically rewrites the backend copy. Throws store/backend errors. */
  async save(mountId: string, backend: Backend, keyring: Keyring): Promise<void> {
    const text = serializeKeyring(keyring);
    await this.store.set(STORE_PREFIX + mountId, text);
    if (!(await keyringIndex(this.store)).includes(mountId)) {
      await this.mutex.run('keyring-index', () => addToKeyringIndex(this.store, mountId));
    }
    if (this.backendCopy) await this.writeBackendCopy(backend, text);
  }

  /**
   * Loads the trusted keyring (see load), lets `edit` change it in memory, and saves it when `edit`
   * returns true; serialized (store mutex) with every keyring edit of every process sharing the store. Throws
   * DC_ERR_NO_ACCESS when the mount has no keyring, and whatever `edit`, the store or backend throw.
   */
  update<T>(mountId: string, backend: Backend, edit: (keyring: Keyring) => Promise<{ save: boolean; result: T }> | { save: boolean; result: T }): Promise<T> {
    return this.serialize(mountId, async () => {
      const keyring = await this.load(mountId, backend);
      if (!keyring) throw davError('DC_ERR_NO_ACCESS', `mount ${mountId} has no keyring yet (no encrypted file was ever written to it)`);
      const { save, result } = await edit(keyring);
      if (save) await this.save(mountId, backend, keyring);
      return result;
    });
  }

  /** The recovery identity, when one was set up (hook for the recovery command; none by default). */
  async recoveryIdentity(): Promise<IdentityInfo | undefined> {
    const rec = await getStoredRecovery(this.store);
    if (!rec) return undefined;
    return { name: 'recovery', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope };
  }

  /**
   * Unlocks a mount for `self`, creating its first key when no keyring exists anywhere (wrapped to
   * every member and to the recovery identity), and wrapping held keys to members that lack a wrap.
   * `members` come from trusted user records and should include `self`'s public identity.
   * Throws DC_ERR_NO_ACCESS (no wrap of the current key for self), DC_ERR_UNWRAP_FAILED,
   * DC_ERR_KEYRING_INVALID, store/backend errors.
   */
  unlockOrCreate(mountId: string, backend: Backend, self: OpenIdentity, members: IdentityInfo[]): Promise<MountKeySet> {
    return this.serialize(mountId, async () => {
      const recovery = await this.recoveryIdentity();
      // Re-read revocations under the mutex: a `mount revoke` that ran since the caller listed members wins.
      const revoked = new Set((await revokedUsers(this.store, mountId)).map((u) => `user:${u}`));
      const everyone = members.filter((m) => !revoked.has(m.name));
      for (const extra of [recovery, this.master]) {
        if (extra && !everyone.some((m) => m.name === extra.name)) everyone.push(extra);
      }
      let keyring = await this.load(mountId, backend);
      if (!keyring) {
        const key = newMountKey();
        keyring = { format: 'davcrypt-keyring/1', current: key.id.toString('hex'), keys: [], identities: {} };
        keyring.keys.push({ id: key.id.toString('hex'), created: new Date().toISOString(), wraps: [] });
        grant(keyring, [key], everyone);
        await this.save(mountId, backend, keyring);
        this.logger.info('mount key created', { mount: mountId, wrappedTo: everyone.map((m) => m.name) });
        publishKey({ operation: 'create', mount: mountId, identities: everyone.map((m) => m.name) }); // ops
        return createMountKeySet([key], key);
      }
      const { keys, current } = unlockKeys(keyring, self);
      if (grant(keyring, keys, everyone)) {
        await this.save(mountId, backend, keyring);
        this.logger.info('mount keys wrapped to new members', { mount: mountId });
        publishKey({ operation: 'wrap', mount: mountId, identities: everyone.map((m) => m.name) }); // ops
      }
      publishKey({ operation: 'unlock', mount: mountId }); // ops
      return createMountKeySet(keys, current);
    });
  }

  /**
   * Replaces the envelope of `identity` in a mount's keyring (after a password change), keeping
   * wraps. Returns false when the keyring does not hold that identity with the same public key.
   */
  updateIdentityEnvelope(mountId: string, backend: Backend, identity: IdentityInfo): Promise<boolean> {
    return this.serialize(mountId, async () => {
      const keyring = await this.load(mountId, backend);
      const entry = keyring?.identities[identity.name];
      if (!keyring || !entry) return false;
      if (entry.publicKey !== identity.publicKey.toString('base64')) {
        this.logger.warn('keyring holds a different public key for this identity; envelope left alone', {
          mount: mountId,
          identity: identity.name,
        });
        return false;
      }
      entry.envelope = identity.envelope;
      await this.save(mountId, backend, keyring);
      return true;
    });
  }

  private async writeBackendCopy(backend: Backend, text: string): Promise<void> {
    try {
      await backend.mkdir(KEYRING_DIR);
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_EXISTS')) throw err;
    }
    const body = Buffer.from(text, 'utf8');
    await backend.write(KEYRING_PATH, Readable.from([body]), { size: body.length, contentType: 'application/json' });
  }

  private async reconcile(mountId: string, backend: Backend, stored: Keyring): Promise<void> {
    let remote: Keyring | undefined;
    try {
      remote = await this.readBackendCopy(backend);
    } catch (err) {
      this.logger.warn('backend keyring unreadable; rewriting it from the store', {
        mount: mountId,
        code: isDavcryptError(err) ? err.code : undefined,
      });
    }
    if (remote) {
      const extras = backendOnly(stored, remote);
      if (extras.length > 0) {
        this.logger.warn('backend keyring holds entries the gateway never made; ignoring them (not adopted)', {
          mount: mountId,
          backend: backend.name,
          entries: extras,
        });
      }
      if (serializeKeyring(remote) === serializeKeyring(stored)) return;
    }
    await this.writeBackendCopy(backend, serializeKeyring(stored));
  }

  private serialize<T>(mountId: string, task: () => Promise<T>): Promise<T> {
    return this.mutex.run(`keyring:${mountId}`, task, { waitMs: 30_000 });
  }

}

/** Opens every key wrapped to `self`. Throws DC_ERR_NO_ACCESS when the current key is not among them. */
export function unlockKeys(keyring: Keyring, self: OpenIdentity): { keys: MountKey[]; current: MountKey } {
  const keys: MountKey[] = [];
  let current: MountKey | undefined;
  for (const entry of keyring.keys) {
    const wrap = entry.wraps.find((w) => w.to === self.name);
    if (!wrap) continue;
    const id = Buffer.from(entry.id, 'hex');
    const key: MountKey = { id, key: unwrapMountKey(wrap, id, self.privateKey) };
    keys.push(key);
    if (entry.id === keyring.current) current = key;
  }
  if (!current) throw davError('DC_ERR_NO_ACCESS', `the current key of this mount is not wrapped to ${self.name}`);
  return { keys, current };
}

/** Adds identity entries and wraps of `held` keys for every member lacking them. Returns true if anything changed. */
function grant(keyring: Keyring, held: MountKey[], members: IdentityInfo[]): boolean {
  let changed = false;
  for (const m of members) {
    const publicKey = m.publicKey.toString('base64');
    const entry = keyring.identities[m.name];
    const replaced = entry !== undefined && entry.publicKey !== publicKey;
    if (!entry || replaced || (m.envelope && !entry.envelope)) {
      keyring.identities[m.name] = m.envelope ? { publicKey, envelope: m.envelope } : { publicKey };
      changed = true;
    }
    for (const key of held) {
      const hex = key.id.toString('hex');
      const slot = keyring.keys.find((k) => k.id === hex);
      if (!slot) continue;
      if (replaced) slot.wraps = slot.wraps.filter((w) => w.to !== m.name);
      if (!slot.wraps.some((w) => w.to === m.name)) {
        slot.wraps.push(wrapMountKey(key, m.publicKey, m.name));
        changed = true;
      }
    }
  }
  return changed;
}

/** Keys, wraps and identities present only in the backend copy (or differing from the store). */
function backendOnly(stored: Keyring, remote: Keyring): string[] {
  const out: string[] = [];
  for (const k of remote.keys) {
    const mine = stored.keys.find((s) => s.id === k.id);
    if (!mine) {
      out.push(`key ${k.id}`);
      continue;
    }
    for (const w of k.wraps) {
      if (!mine.wraps.some((x) => x.to === w.to && x.epk === w.epk && x.ct === w.ct)) out.push(`wrap ${k.id}->${w.to}`);
    }
  }
  for (const [name, ident] of Object.entries(remote.identities)) {
    if (stored.identities[name]?.publicKey !== ident.publicKey) out.push(`identity ${name}`);
  }
  if (remote.current !== stored.current) out.push(`current ${remote.current}`);
  return out;
}
