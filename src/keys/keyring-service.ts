// Keeps each encrypted mount's keyring (docs/FORMAT.md §3.3-§3.7). The store copy is trusted;
// the backend copy at <mount root>/.davcrypt/keyring.json is an escrow the gateway merges
// into and never uses as such: from it, only keys that an identity the gateway holds right
// now vouches for with its own keyring tag are taken over (never trust on first use). The
// gateway writes identity I's tags whenever it holds I's private key (logins, master key,
// recovery unlocked) and the recovery identity's from the tag key `recovery init` left in the
// store. Creates, unlocks and grants mount keys. Never sees passwords: callers hand it
// already-opened identity private keys. Its public methods take a MountId; the string form
// (formatMountId, `idText` below) is what it stores, tags, locks and logs by.
import { Readable } from 'node:stream';
import type Keyv from 'keyv';
import { KEYRING_DIR, KEYRING_PATH } from '../backends/layout.js';
import type { Backend } from '../backends/types.js';
import { publishKey } from '../events.js';
import {
  KEYRING_LIMITS,
  deriveTagKey,
  foreignEnvelopeBounds,
  newMountKey,
  parseKeyring,
  publicKeyFromPrivate,
  serializeKeyring,
  unwrapMountKey,
  wrapMountKey,
  computeWrapTag,
  type Argon2Bounds,
  type Argon2Params,
  type Keyring,
  type TagKeys,
} from '../crypto/index.js';
import { davError, isDavcryptError, toDavcryptError, type DavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';
import { createStoreMutex, type DistributedMutex } from '../store-mutex.js';
import { addToKeyringIndex, getStoredRecovery, keyringIndex, revokedUsers } from './custody-store.js';
import {
  currentEntry,
  emptyKeyring,
  escrowOnly,
  importAuthenticated,
  mergeEscrow,
  removedSince,
  removeIdentity,
  snapshotOf,
  tagHeld,
  type Removed,
} from './keyring-edit.js';
import { createMountKeySet } from './keyset.js';
import { formatMountId, sameMountId, type MountId } from './mount-id.js';
import type { IdentityInfo, MountKey, MountKeySet, OpenIdentity } from './types.js';

export type { IdentityInfo, OpenIdentity } from './types.js';

export { KEYRING_DIR, KEYRING_PATH };
/** Where an unreadable backend copy is moved before the gateway writes a new one. */
export const REJECTED_KEYRING_PATH = `${KEYRING_DIR}/keyring.rejected.json`;
const STORE_PREFIX = 'keyring:';

export interface KeyringServiceOptions {
  store: Keyv;
  logger: Logger;
  /** Read and write the backend copy (config keys.backendKeyring; default true). */
  backendCopy?: boolean;
  /** Master-key mode: the `master` identity (public key only) every key is also wrapped to. */
  master?: IdentityInfo;
  /** Master-key mode: the master identity's tag key (deriveTagKey of the key file's private key). */
  masterTagKey?: Buffer;
  /** The configured argon2 parameters: envelopes read from a backend copy must stay within foreignEnvelopeBounds of them. */
  argon2?: Argon2Params;
  /** Serializes keyring read-modify-write across every process sharing the store (default createStoreMutex(store)). */
  mutex?: DistributedMutex;
}

/** The keyring the gateway trusts for a mount, as one caller sees it. */
export interface TrustedKeyring {
  /** Undefined when the store has none and the backend holds nothing the openers vouch for. */
  keyring?: Keyring;
  /** Keys of the trusted keyring the openers opened (store wraps, or taken over with their tag). */
  held: MountKey[];
  /** The backend copy as read (untrusted), when it was read and valid. */
  remote?: Keyring;
  /** Why the backend copy was not usable, when it was read and was not. */
  remoteError?: DavcryptError;
  /** True when the backend copy was read (even if absent or invalid). */
  remoteRead: boolean;
  /** True when the store held a copy (else every trusted key was taken over from the backend just now). */
  fromStore: boolean;
  /** The trusted keyring changed while loading (format 1 migrated, keys taken over): save it. */
  changed: boolean;
}

/** What update() hands an edit besides the keyring. */
export interface EditContext {
  /** Tag keys at hand: the openers', the master's, the recovery identity's (store). */
  tagKeys: TagKeys;
  /** Keys the openers hold in the trusted keyring. */
  held: MountKey[];
}

export class KeyringService {
  private readonly store: Keyv;
  private readonly logger: Logger;
  private readonly backendCopy: boolean;
  private readonly master?: IdentityInfo;
  private readonly masterTagKey?: Buffer;
  private readonly argon2?: Argon2Params;
  private readonly mutex: DistributedMutex;
  /** "<mount id>\0<identity>" pairs whose backend copy this process has looked at. */
  private readonly reconciled = new Set<string>();

  constructor(options: KeyringServiceOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.backendCopy = options.backendCopy ?? true;
    this.master = options.master;
    this.masterTagKey = options.masterTagKey ? Buffer.from(options.masterTagKey) : undefined;
    this.argon2 = options.argon2;
    // One keyring edit at a time per mount across gateway instances and CLI commands (first-key race,
    // grant/revoke/rotate from the CLI while a login wraps keys).
    this.mutex = options.mutex ?? createStoreMutex(this.store);
  }

  /**
   * The store copy (trusted), or undefined. A format 1 copy comes back in the format 2 shape with
   * its keys' mount set to the id (migration; saved at the next edit). Throws
   * DC_ERR_KEYRING_INVALID if the store holds garbage.
   */
  async getStored(id: MountId): Promise<Keyring | undefined> {
    const idText = formatMountId(id);
    const text = await this.store.get<string>(STORE_PREFIX + idText);
    if (text === undefined) return undefined;
    const keyring = parseKeyring(text);
    for (const k of keyring.keys) if (k.mount === '') k.mount = idText;
    return keyring;
  }

  /**
   * The backend copy (untrusted), or undefined when there is none. Bounded (FORMAT.md §3.5): file
   * size and counts, and the argon2 parameters of every envelope within foreignEnvelopeBounds of
   * the configured ones, all checked before any argon2 work (`options.argon2` replaces those bounds
   * for a caller that judges each envelope itself and never opens one). Throws
   * DC_ERR_KEYRING_INVALID, backend errors.
   */
  async readBackendCopy(backend: Backend, options: { argon2?: Argon2Bounds } = {}): Promise<Keyring | undefined> {
    let text: string;
    try {
      const { body } = await backend.read(KEYRING_PATH);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body) {
        total += (chunk as Buffer).length;
        if (total > KEYRING_LIMITS.maxBytes) {
          body.destroy();
          throw davError('DC_ERR_KEYRING_INVALID', `keyring on ${backend.name} is larger than ${KEYRING_LIMITS.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_CONFLICT')) return undefined;
      throw err;
    }
    return parseKeyring(text, { argon2: options.argon2 ?? foreignEnvelopeBounds(this.argon2) });
  }

  /** Master-key mode: the `master` identity (from the key file), else undefined. */
  get masterIdentity(): IdentityInfo | undefined {
    return this.master;
  }

  /** The recovery identity, when one was set up (store only: never taken from a backend keyring). */
  async recoveryIdentity(): Promise<IdentityInfo | undefined> {
    const rec = await getStoredRecovery(this.store);
    if (!rec) return undefined;
    return { name: 'recovery', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope };
  }

  /** Tag keys at hand for `openers`: theirs, the master's (master mode), the recovery identity's (store). */
  async tagKeysFor(openers: OpenIdentity[]): Promise<Map<string, Buffer>> {
    const keys = new Map<string, Buffer>();
    const rec = await getStoredRecovery(this.store);
    if (rec?.tagKey) keys.set('recovery', Buffer.from(rec.tagKey, 'base64'));
    if (this.master && this.masterTagKey) keys.set(this.master.name, this.masterTagKey);
    for (const o of openers) keys.set(o.name, deriveTagKey(o.privateKey));
    return keys;
  }

  /**
   * The keyring the gateway trusts for a mount, for `openers`, read-only: the store copy plus the
   * keys of the backend copy that an opener's own tag vouches for (FORMAT.md §3.6). The backend
   * copy is read when the store has none, or the first time this process sees this mount with an
   * opener. The recovery identity vouches for backend keys only when the store has no copy. `held`
   * are the keys the openers open (a wrap that does not open is skipped). Throws
   * DC_ERR_KEYRING_INVALID (store garbage; or no store copy and an unreadable or out-of-bounds
   * backend copy), store/backend errors.
   */
  async trusted(id: MountId, backend: Backend, openers: OpenIdentity[] = [], tagKeys?: TagKeys): Promise<TrustedKeyring> {
    const idText = formatMountId(id);
    const tags = tagKeys ?? (await this.tagKeysFor(openers));
    const stored = await this.getStored(id);
    const out: TrustedKeyring = { keyring: stored, held: [], remoteRead: false, fromStore: stored !== undefined, changed: stored?.readFrom !== undefined };
    if (stored) this.dropUntrustedIdentities(idText, stored, await this.recoveryIdentity());
    // The backend copy is looked at when the store has none, and once per process per mount and opener.
    let lookAtBackend = false;
    if (this.backendCopy) {
      if (!stored) lookAtBackend = true;
      else if (openers.length === 0) lookAtBackend = !this.reconciled.has(`${idText}\0`);
      else lookAtBackend = openers.some((o) => !this.reconciled.has(`${idText}\0${o.name}`));
    }
    if (lookAtBackend) {
      out.remoteRead = true;
      try {
        out.remote = await this.readBackendCopy(backend);
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_KEYRING_INVALID')) throw err;
        if (!stored) throw err;
        out.remoteError = err;
        this.logger.warn('backend keyring unreadable or out of bounds; serving from the store (it is rewritten from the store)', {
          mount: idText,
          code: err.code,
          reason: err.message,
        });
      }
    }
    // The recovery identity vouches for backend keys only when the store has no copy (a lost store):
    // its tag key also sits in the store, so with a store copy at hand a stolen store's tag key must
    // not be able to add keys (docs/SECURITY.md §3).
    const importers = stored ? openers.filter((o) => o.name !== 'recovery') : openers;
    if (out.remote && importers.length > 0) {
      const keyring = stored ?? emptyKeyring();
      const recovery = await this.recoveryIdentity();
      const remote = out.remote;
      const identityOf = (name: string): IdentityInfo | undefined => {
        const opener = openers.find((o) => o.name === name);
        if (opener) {
          const publicKey = publicKeyFromPrivate(opener.privateKey);
          // Without a trusted record at hand, the backend's envelope for this very public key is kept
          // (it can only open to the private key the opener holds: an escrow copy, trusted for nothing).
          const escrow = remote.identities[name];
          const envelope = opener.envelope ?? (escrow?.publicKey === publicKey.toString('base64') ? escrow.envelope : undefined);
          return { name, publicKey, envelope };
        }
        if (name === 'recovery') return recovery;
        if (this.master && name === this.master.name) return this.master;
        return undefined;
      };
      const imported = importAuthenticated(keyring, remote, idText, importers, tags, identityOf);
      if (imported.keys.length > 0 || imported.wraps.length > 0) {
        out.changed = true;
        this.logger.info('keyring: keys taken over from the backend copy, authenticated by their tags', {
          mount: idText,
          keys: imported.keys,
          wraps: imported.wraps,
          by: importers.map((o) => o.name),
        });
        publishKey({ operation: 'adopt', mount: idText, identities: importers.map((o) => o.name) }); // ops
      }
      wipe(imported.held);
      if (keyring.keys.length > 0) out.keyring = keyring;
    }
    if (out.remote) {
      const extras = escrowOnly(out.keyring ?? emptyKeyring(), out.remote);
      if (extras.keys.length + extras.wraps.length > 0 && !this.reconciled.has(`${idText}\0`)) {
        this.logger.warn('backend keyring holds entries the gateway cannot authenticate; kept there as escrow, never used', {
          mount: idText,
          backend: backend.name,
          keys: extras.keys.length,
          wraps: extras.wraps.length,
          format: out.remote.readFrom ?? 'davcrypt-keyring/2',
        });
      }
    }
    if (lookAtBackend) {
      this.reconciled.add(`${idText}\0`);
      for (const o of openers) this.reconciled.add(`${idText}\0${o.name}`);
    }
    if (out.keyring) out.held = unlockHeld(out.keyring, openers);
    return out;
  }

  /**
   * Loads the trusted keyring (see trusted(), with `options.openers`), lets `edit` change it in
   * memory, and saves it when `edit` returns save: true (or when loading changed it); serialized
   * (store mutex) with every keyring edit of every process sharing the store. What the edit removes
   * is removed from the backend escrow too. Throws DC_ERR_NO_ACCESS when the gateway trusts no
   * keyring for the mount, and whatever `edit`, the store or backend throw.
   */
  update<T>(
    id: MountId,
    backend: Backend,
    edit: (keyring: Keyring, ctx: EditContext) => Promise<{ save: boolean; result: T }> | { save: boolean; result: T },
    options: { openers?: OpenIdentity[] } = {},
  ): Promise<T> {
    const idText = formatMountId(id);
    return this.serialize(idText, async () => {
      const openers = options.openers ?? [];
      const tagKeys = await this.tagKeysFor(openers);
      const t = await this.trusted(id, backend, openers, tagKeys);
      const keyring = t.keyring;
      if (!keyring || keyring.keys.length === 0) {
        wipe(t.held);
        throw davError(
          'DC_ERR_NO_ACCESS',
          `mount ${idText} has no keyring the gateway trusts (none in its store, and no key on the backend that this identity's tag vouches for)`,
        );
      }
      try {
        const before = snapshotOf(keyring);
        const { save, result } = await edit(keyring, { tagKeys, held: t.held });
        if (save || t.changed) await this.save(id, backend, keyring, t, removedSince(before, keyring));
        else await this.repairBackend(idText, backend, keyring, t);
        return result;
      } finally {
        wipe(t.held);
      }
    });
  }

  /**
   * Unlocks a mount for `openers` (in priority order: the master key first in master mode, then
   * the user), creating a fresh key when the gateway trusts none (wrapped to every member and to
   * the recovery identity), wrapping held keys to members that lack a wrap, and writing the tags
   * of every identity whose tag key is at hand. The current key is the trusted key with the
   * highest sequence number. `members` come from trusted user records and should include the
   * user. Throws DC_ERR_NO_ACCESS (the openers do not hold the current key),
   * DC_ERR_KEYRING_INVALID, store/backend errors.
   */
  unlockOrCreate(id: MountId, backend: Backend, openersIn: OpenIdentity | OpenIdentity[], members: IdentityInfo[]): Promise<MountKeySet> {
    const idText = formatMountId(id);
    const openers = Array.isArray(openersIn) ? openersIn : [openersIn];
    return this.serialize(idText, async () => {
      const recovery = await this.recoveryIdentity();
      // Re-read revocations under the mutex: a `mount revoke` that ran since the caller listed members wins.
      const revoked = new Set((await revokedUsers(this.store, id)).map((u) => `user:${u}`));
      const everyone = members.filter((m) => !revoked.has(m.name));
      for (const extra of [recovery, this.master]) {
        if (extra && !everyone.some((m) => m.name === extra.name)) everyone.push(extra);
      }
      const tagKeys = await this.tagKeysFor(openers);
      const t = await this.trusted(id, backend, openers, tagKeys);
      const keyring = t.keyring ?? emptyKeyring();
      if (keyring.keys.length === 0) {
        const key = newMountKey();
        keyring.keys.push({ id: key.id.toString('hex'), mount: idText, seq: 1, created: new Date().toISOString(), wraps: [] });
        grant(keyring, [key], everyone, tagKeys);
        await this.save(id, backend, keyring, t);
        this.logger.info('mount key created', {
          mount: idText,
          wrappedTo: everyone.map((m) => m.name),
          ...(t.remote ? { note: 'the backend keyring held no key this identity vouches for; it stays there as escrow' } : {}),
        });
        publishKey({ operation: 'create', mount: idText, identities: everyone.map((m) => m.name) }); // ops
        return createMountKeySet([key], key);
      }
      const current = currentEntry(keyring)!;
      const held = t.held;
      const currentKey = held.find((k) => k.id.toString('hex') === current.id);
      if (!currentKey) {
        wipe(held);
        throw davError('DC_ERR_NO_ACCESS', `the current key of this mount is not wrapped to ${openers.map((o) => o.name).join(' or ')}`);
      }
      const before = snapshotOf(keyring);
      const granted = grant(keyring, held, everyone, tagKeys);
      const tagged = tagHeld(keyring, held, tagKeys);
      if (granted || tagged > 0 || t.changed) {
        await this.save(id, backend, keyring, t, removedSince(before, keyring));
        if (granted) {
          this.logger.info('mount keys wrapped to new members', { mount: idText });
          publishKey({ operation: 'wrap', mount: idText, identities: everyone.map((m) => m.name) }); // ops
        }
      } else {
        await this.repairBackend(idText, backend, keyring, t);
      }
      publishKey({ operation: 'unlock', mount: idText }); // ops
      return createMountKeySet(held, currentKey);
    });
  }

  /**
   * Replaces the envelope of `identity` in a mount's trusted keyring (after a password change),
   * keeping wraps and tags. Returns false when the keyring does not hold that identity with the
   * same public key (or the store has no keyring for the mount).
   */
  updateIdentityEnvelope(id: MountId, backend: Backend, identity: IdentityInfo): Promise<boolean> {
    const idText = formatMountId(id);
    return this.serialize(idText, async () => {
      const t = await this.trusted(id, backend, []);
      const keyring = t.keyring;
      const entry = keyring?.identities[identity.name];
      if (!keyring || !entry) return false;
      if (entry.publicKey !== identity.publicKey.toString('base64')) {
        this.logger.warn('keyring holds a different public key for this identity; envelope left alone', {
          mount: idText,
          identity: identity.name,
        });
        return false;
      }
      entry.envelope = identity.envelope;
      await this.save(id, backend, keyring, t);
      return true;
    });
  }

  /**
   * Saves the trusted keyring to the store, then (unless disabled) merges it into the backend copy:
   * every backend entry it lacks stays as escrow, except what `removed` lists. Throws store/backend errors.
   */
  private async save(id: MountId, backend: Backend, keyring: Keyring, t: TrustedKeyring, removed?: Removed): Promise<void> {
    const idText = formatMountId(id);
    await this.store.set(STORE_PREFIX + idText, serializeKeyring(keyring));
    if (!(await keyringIndex(this.store)).some((known) => sameMountId(known, id))) {
      await this.mutex.run('keyring-index', () => addToKeyringIndex(this.store, id));
    }
    if (!this.backendCopy) return;
    let remote = t.remote;
    let remoteError = t.remoteError;
    if (!t.remoteRead) {
      try {
        remote = await this.readBackendCopy(backend);
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_KEYRING_INVALID')) throw err;
        remoteError = err;
      }
    }
    await this.writeMerged(idText, backend, keyring, remote, remoteError, removed);
  }

  /** Rewrites the backend copy when merging would change it (format 1 copy, missing entries, invalid file). */
  private async repairBackend(idText: string, backend: Backend, keyring: Keyring, t: TrustedKeyring): Promise<void> {
    if (!this.backendCopy || !t.remoteRead) return;
    await this.writeMerged(idText, backend, keyring, t.remote, t.remoteError);
  }

  private async writeMerged(idText: string, backend: Backend, keyring: Keyring, remote: Keyring | undefined, remoteError: DavcryptError | undefined, removed?: Removed): Promise<void> {
    const { keyring: merged, droppedEscrow } = mergeEscrow(remote, keyring, idText, removed);
    if (droppedEscrow > 0) {
      this.logger.warn('backend keyring escrow left out: keeping it would exceed the keyring bounds', { mount: idText, entries: droppedEscrow });
    }
    const text = serializeKeyring(merged);
    if (remote && !remoteError && remote.readFrom === undefined && serializeKeyring(remote) === text) return;
    if (remoteError) await this.setAside(backend, idText);
    await this.writeBackendCopy(backend, text);
  }

  /** Moves an unreadable backend copy to keyring.rejected.json (best effort) before it is replaced. */
  private async setAside(backend: Backend, idText: string): Promise<void> {
    try {
      await backend.move(KEYRING_PATH, REJECTED_KEYRING_PATH, { overwrite: true });
    } catch (err) {
      this.logger.warn('could not set the unreadable backend keyring aside; it is overwritten', {
        mount: idText,
        code: toDavcryptError(err).code,
      });
    }
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

  /**
   * A trusted keyring must not hold a recovery or master identity other than the gateway's own
   * (a format 1 store copy may have been adopted from the backend once): drop it and its wraps
   * from the trusted keyring (the backend copy keeps them as escrow). Never wraps to a planted one.
   */
  private dropUntrustedIdentities(idText: string, keyring: Keyring, recovery: IdentityInfo | undefined): void {
    const checks: [string, IdentityInfo | undefined, boolean][] = [
      ['recovery', recovery, true],
      ['master', this.master, this.master !== undefined],
    ];
    for (const [name, trusted, judge] of checks) {
      const entry = keyring.identities[name];
      if (!entry || !judge) continue;
      if (trusted && entry.publicKey === trusted.publicKey.toString('base64')) continue;
      removeIdentity(keyring, name);
      this.logger.warn(`keyring holds a ${name} identity the gateway does not know; it gets no wraps`, { mount: idText });
    }
  }

  private serialize<T>(idText: string, task: () => Promise<T>): Promise<T> {
    return this.mutex.run(`keyring:${idText}`, task, { waitMs: 30_000 });
  }
}

/**
 * Opens every key of a trusted keyring wrapped to one of `openers` (the first opener whose wrap
 * opens it). A wrap that does not open (another key pair under that name) is skipped.
 */
export function unlockHeld(keyring: Keyring, openers: OpenIdentity[]): MountKey[] {
  const keys: MountKey[] = [];
  for (const entry of keyring.keys) {
    const id = Buffer.from(entry.id, 'hex');
    for (const o of openers) {
      const wrap = entry.wraps.find((w) => w.to === o.name);
      if (!wrap) continue;
      try {
        keys.push({ id, key: unwrapMountKey(wrap, id, o.privateKey) });
        break;
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_UNWRAP_FAILED')) throw err;
      }
    }
  }
  return keys;
}

/**
 * Opens every key of a trusted keyring wrapped to `self`. Throws DC_ERR_NO_ACCESS when the current
 * key (highest sequence number) is not among them.
 */
export function unlockKeys(keyring: Keyring, self: OpenIdentity): { keys: MountKey[]; current: MountKey } {
  const keys = unlockHeld(keyring, [self]);
  const id = currentEntry(keyring)?.id;
  const current = keys.find((k) => k.id.toString('hex') === id);
  if (!current) throw davError('DC_ERR_NO_ACCESS', `the current key of this mount is not wrapped to ${self.name}`);
  return { keys, current };
}

/**
 * Adds identity entries and wraps of `held` keys for every member lacking them, tagging the new
 * wraps whose tag keys are at hand. Returns true if anything changed.
 */
function grant(keyring: Keyring, held: MountKey[], members: IdentityInfo[], tagKeys: TagKeys): boolean {
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
        const wrap = wrapMountKey(key, m.publicKey, m.name);
        const tagKey = tagKeys.get(m.name);
        if (tagKey) wrap.tag = computeWrapTag(tagKey, slot.mount, slot, wrap, key.key);
        slot.wraps.push(wrap);
        changed = true;
      }
    }
  }
  return changed;
}

function wipe(keys: MountKey[]): void {
  for (const k of keys) k.key.fill(0);
}
