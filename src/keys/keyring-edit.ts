// Edits of a keyring object in memory for key custody (docs/FORMAT.md §3.3-§3.7): wrap held keys
// to an identity (tagging the wraps whose tag keys are at hand), remove an identity and its
// wraps, add a new current key, drop old keys, unwrap every key of one identity, take over
// from a backend copy the keys an opener's own tag vouches for, and merge the trusted keyring
// into the backend escrow. Pure: no store, no backend, no passwords; callers save the result
// through KeyringService.
import {
  KEYRING_FORMAT,
  KEYRING_LIMITS,
  computeWrapTag,
  highestKey,
  keyAuthenticated,
  maxSeq,
  newMountKey,
  serializeKeyring,
  unwrapMountKey,
  wrapMountKey,
  type Keyring,
  type KeyringKey,
  type TagKeys,
} from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import type { IdentityInfo, MountKey, OpenIdentity } from './types.js';
import { formatMountId, type MountId } from './mount-id.js';

/** Every identity of the keyring, as wrap recipients (the keyring must be a trusted one). */
export function recipientsOf(keyring: Keyring, except: string[] = []): IdentityInfo[] {
  return Object.entries(keyring.identities)
    .filter(([name]) => !except.includes(name))
    .map(([name, ident]) => ({ name, publicKey: Buffer.from(ident.publicKey, 'base64'), envelope: ident.envelope }));
}

/** A wrap of `key` to `identity`, tagged when `tagKeys` holds the identity's tag key. */
function newWrap(entry: KeyringKey, key: MountKey, identity: { name: string; publicKey: Buffer }, tagKeys?: TagKeys) {
  const wrap = wrapMountKey(key, identity.publicKey, identity.name);
  const tagKey = tagKeys?.get(identity.name);
  if (tagKey) wrap.tag = computeWrapTag(tagKey, entry.mount, entry, wrap, key.key);
  return wrap;
}

/**
 * Sets `identity` in the keyring and wraps every key of `held` to it that lacks a wrap. When the
 * keyring held another public key under that name, its wraps are removed first (they could never
 * open again). New wraps are tagged when `tagKeys` has the identity's tag key. Returns the number
 * of wraps added.
 */
export function wrapKeysTo(keyring: Keyring, held: MountKey[], identity: IdentityInfo, tagKeys?: TagKeys): number {
  const publicKey = identity.publicKey.toString('base64');
  const entry = keyring.identities[identity.name];
  if (entry && entry.publicKey !== publicKey) removeWrapsOf(keyring, identity.name);
  keyring.identities[identity.name] = identity.envelope ? { publicKey, envelope: identity.envelope } : { publicKey };
  let added = 0;
  for (const key of held) {
    const slot = keyring.keys.find((k) => k.id === key.id.toString('hex'));
    if (!slot || slot.wraps.some((w) => w.to === identity.name)) continue;
    slot.wraps.push(newWrap(slot, key, identity, tagKeys));
    added++;
  }
  return added;
}

/**
 * Writes the tag of every wrap of a held key to an identity whose tag key is in `tagKeys`, where
 * it is missing or wrong. Only for a trusted keyring: a tag vouches that the wrap holds the key.
 * Returns the number of tags written.
 */
export function tagHeld(keyring: Keyring, held: MountKey[], tagKeys: TagKeys): number {
  let written = 0;
  for (const key of held) {
    const slot = keyring.keys.find((k) => k.id === key.id.toString('hex'));
    if (!slot) continue;
    for (const wrap of slot.wraps) {
      const tagKey = tagKeys.get(wrap.to);
      if (!tagKey) continue;
      const tag = computeWrapTag(tagKey, slot.mount, slot, wrap, key.key);
      if (wrap.tag !== tag) {
        wrap.tag = tag;
        written++;
      }
    }
  }
  return written;
}

/** Removes every wrap to `name`; returns how many. The identity entry stays. */
export function removeWrapsOf(keyring: Keyring, name: string): number {
  let removed = 0;
  for (const k of keyring.keys) {
    const before = k.wraps.length;
    k.wraps = k.wraps.filter((w) => w.to !== name);
    removed += before - k.wraps.length;
  }
  return removed;
}

/** Removes an identity and its wraps; returns the number of wraps removed (0 and no change if absent). */
export function removeIdentity(keyring: Keyring, name: string): number {
  const removed = removeWrapsOf(keyring, name);
  delete keyring.identities[name];
  return removed;
}

/**
 * Adds a fresh key for mount `mount` with the next sequence number, wrapped to `recipients`
 * (default: every identity in the keyring; pass only identities confirmed by trusted records),
 * tagging the wraps whose tag keys are in `tagKeys`. It becomes the current key. Returns it (the
 * caller wipes it when done). Old keys and their wraps stay, so old files still read.
 */
export function addCurrentKey(
  keyring: Keyring,
  mount: MountId,
  options: { tagKeys?: TagKeys; recipients?: IdentityInfo[]; created?: Date } = {},
): MountKey {
  const seq = maxSeq(keyring.keys) + 1;
  if (seq > KEYRING_LIMITS.maxSeq) {
    throw davError('DC_ERR_KEYRING_INVALID', `no sequence number is left above ${seq - 1} (a key with the largest possible seq: made by whom?)`);
  }
  const key = newMountKey();
  const entry: KeyringKey = { id: key.id.toString('hex'), mount: formatMountId(mount), seq, created: (options.created ?? new Date()).toISOString(), wraps: [] };
  keyring.keys.push(entry);
  const recipients = options.recipients ?? recipientsOf(keyring);
  for (const r of recipients) {
    const publicKey = r.publicKey.toString('base64');
    const known = keyring.identities[r.name];
    if (!known || known.publicKey !== publicKey) continue; // only identities the keyring holds with this key
    entry.wraps.push(newWrap(entry, key, r, options.tagKeys));
  }
  return key;
}

/** The current key entry of a trusted keyring: the highest sequence number (ties: larger id). */
export function currentEntry(keyring: Keyring): KeyringKey | undefined {
  return highestKey(keyring.keys);
}

/** Id of the current key of a trusted keyring (DC_ERR_NO_ACCESS when it has no key). */
export function currentId(keyring: Keyring): string {
  const entry = currentEntry(keyring);
  if (!entry) throw davError('DC_ERR_NO_ACCESS', 'the keyring has no key');
  return entry.id;
}

/** Drops every key but the current one and those in `keep`; returns the dropped ids. */
export function dropKeysExcept(keyring: Keyring, keep: Set<string> = new Set()): string[] {
  const current = currentEntry(keyring)?.id;
  const dropped = keyring.keys.filter((k) => k.id !== current && !keep.has(k.id)).map((k) => k.id);
  keyring.keys = keyring.keys.filter((k) => k.id === current || keep.has(k.id));
  return dropped;
}

/**
 * Unwraps every key wrapped to `identity`. Returns them (possibly none) and the ids of the keys
 * that have no wrap to it. Throws DC_ERR_UNWRAP_FAILED when a wrap to it does not open (the
 * private key is not this identity's, or the keyring was altered). For a trusted keyring only.
 */
export function unwrapEvery(keyring: Keyring, identity: string, privateKey: Buffer): { keys: MountKey[]; missing: string[] } {
  const keys: MountKey[] = [];
  const missing: string[] = [];
  for (const entry of keyring.keys) {
    const wrap = entry.wraps.find((w) => w.to === identity);
    if (!wrap) {
      missing.push(entry.id);
      continue;
    }
    const id = Buffer.from(entry.id, 'hex');
    keys.push({ id, key: unwrapMountKey(wrap, id, privateKey) });
  }
  return { keys, missing };
}

/** The keys of `held` that are the keyring's current one; throws DC_ERR_NO_ACCESS when absent. */
export function currentOf(keyring: Keyring, held: MountKey[]): MountKey {
  const id = currentEntry(keyring)?.id;
  const current = held.find((k) => k.id.toString('hex') === id);
  if (!current) throw davError('DC_ERR_NO_ACCESS', `the current key ${id ?? '(none)'} is not among the unwrapped keys`);
  return current;
}

/** What an import took over: keys now trusted, and the held keys (opened by an opener). */
export interface ImportResult {
  /** Key ids added to the trusted keyring. */
  keys: string[];
  /** Wraps added to keys the trusted keyring already had (key id -> identity). */
  wraps: string[];
  /** Every key of the backend copy an opener opened and its own tag vouched for. */
  held: MountKey[];
}

/**
 * Takes over from `remote` (a backend copy: untrusted) the keys whose wrap to one of `openers`
 * opens and carries that opener's valid tag for `mount` (FORMAT.md §3.6), with those of their other
 * wraps whose tag verifies under a tag key in `tagKeys`. Nothing else of `remote` is used: not its
 * identities (entries come from `identityOf`, trusted sources), not untagged wraps, not keys no
 * opener vouches for. Mutates `trusted`.
 */
export function importAuthenticated(
  trusted: Keyring,
  remote: Keyring,
  mount: string,
  openers: OpenIdentity[],
  tagKeys: TagKeys,
  identityOf: (name: string) => IdentityInfo | undefined,
): ImportResult {
  const result: ImportResult = { keys: [], wraps: [], held: [] };
  for (const r of remote.keys) {
    const id = Buffer.from(r.id, 'hex');
    let key: Buffer | undefined;
    for (const o of openers) {
      const wrap = r.wraps.find((w) => w.to === o.name);
      const tagKey = tagKeys.get(o.name);
      if (!wrap?.tag || !tagKey) continue;
      let k: Buffer;
      try {
        k = unwrapMountKey(wrap, id, o.privateKey);
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_UNWRAP_FAILED')) continue;
        throw err;
      }
      if (keyAuthenticated(tagKey, r, wrap, k, mount)) {
        key = k;
        break;
      }
      k.fill(0);
    }
    if (!key) continue;
    result.held.push({ id, key });
    let slot = trusted.keys.find((k) => k.id === r.id);
    if (!slot) {
      slot = { id: r.id, mount, seq: r.seq, created: r.created, wraps: [] };
      trusted.keys.push(slot);
      result.keys.push(r.id);
    }
    for (const wrap of r.wraps) {
      if (slot.wraps.some((w) => w.to === wrap.to)) continue;
      const tagKey = tagKeys.get(wrap.to);
      if (!tagKey || !keyAuthenticated(tagKey, r, wrap, key, mount)) continue;
      const info = identityOf(wrap.to);
      if (!info) continue;
      const publicKey = info.publicKey.toString('base64');
      const have = trusted.identities[wrap.to];
      if (have && have.publicKey !== publicKey) continue;
      if (!have) {
        if (wrap.to !== 'master' && !info.envelope) continue; // a non-master identity entry needs its envelope
        trusted.identities[wrap.to] = info.envelope ? { publicKey, envelope: info.envelope } : { publicKey };
      }
      slot.wraps.push({ ...wrap });
      if (!result.keys.includes(r.id)) result.wraps.push(`${r.id}->${wrap.to}`);
    }
  }
  return result;
}

/** Entries a trusted keyring lost in an edit (revoke, drop, reset): the escrow drops them too. */
export interface Removed {
  keys: Set<string>;
  /** "<key id>|<identity>" */
  wraps: Set<string>;
  identities: Set<string>;
}

export interface KeyringSnapshot {
  keys: Set<string>;
  wraps: Set<string>;
  identities: Set<string>;
}

export function snapshotOf(keyring: Keyring): KeyringSnapshot {
  return {
    keys: new Set(keyring.keys.map((k) => k.id)),
    wraps: new Set(keyring.keys.flatMap((k) => k.wraps.map((w) => `${k.id}|${w.to}`))),
    identities: new Set(Object.keys(keyring.identities)),
  };
}

/** What `before` had that `after` lacks. */
export function removedSince(before: KeyringSnapshot, after: Keyring): Removed {
  const now = snapshotOf(after);
  const minus = (a: Set<string>, b: Set<string>) => new Set([...a].filter((x) => !b.has(x)));
  return { keys: minus(before.keys, now.keys), wraps: minus(before.wraps, now.wraps), identities: minus(before.identities, now.identities) };
}

/** Keys, wraps and identities of `remote` that the trusted keyring does not have (for logs). */
export function escrowOnly(trusted: Keyring, remote: Keyring): { keys: string[]; wraps: string[]; identities: string[] } {
  const out = { keys: [] as string[], wraps: [] as string[], identities: [] as string[] };
  for (const k of remote.keys) {
    const mine = trusted.keys.find((t) => t.id === k.id);
    if (!mine) {
      out.keys.push(k.id);
      continue;
    }
    for (const w of k.wraps) {
      const have = mine.wraps.find((x) => x.to === w.to);
      if (!have || have.epk !== w.epk || have.ct !== w.ct) out.wraps.push(`${k.id}->${w.to}`);
    }
  }
  for (const [name, ident] of Object.entries(remote.identities)) {
    if (trusted.identities[name]?.publicKey !== ident.publicKey) out.identities.push(name);
  }
  return out;
}

/**
 * The backend copy to write (FORMAT.md §3.7): the trusted keyring, plus every entry of the
 * current backend copy it does not have (escrow: keys, wraps and identities the gateway cannot
 * verify are kept, never used), minus what the trusted keyring removed on purpose (`removed`).
 * Where both have an entry, the trusted one wins. When keeping the escrow would exceed
 * KEYRING_LIMITS (a file no reader accepts), the escrow is left out. Returns the keyring and
 * how many escrow entries were dropped for the bounds.
 */
export function mergeEscrow(remote: Keyring | undefined, trusted: Keyring, mount: string, removed?: Removed): { keyring: Keyring; droppedEscrow: number } {
  const base = (): Keyring => ({
    format: KEYRING_FORMAT,
    keys: trusted.keys.map((k) => ({ ...k, wraps: k.wraps.map((w) => ({ ...w })) })),
    identities: { ...trusted.identities },
  });
  if (!remote) return { keyring: base(), droppedEscrow: 0 };
  const out = base();
  let escrowCount = 0;
  const goneIdentity = (name: string) => removed?.identities.has(name) ?? false;
  for (const r of remote.keys) {
    if (removed?.keys.has(r.id)) continue;
    const slot = out.keys.find((k) => k.id === r.id);
    const wraps = r.wraps.filter((w) => !goneIdentity(w.to) && !removed?.wraps.has(`${r.id}|${w.to}`));
    if (!slot) {
      out.keys.push({ id: r.id, mount: r.mount || mount, seq: r.seq, created: r.created, wraps: wraps.map((w) => ({ ...w })) });
      escrowCount += 1;
      continue;
    }
    for (const w of wraps) {
      if (slot.wraps.some((x) => x.to === w.to)) continue;
      slot.wraps.push({ ...w });
      escrowCount += 1;
    }
  }
  for (const [name, ident] of Object.entries(remote.identities)) {
    if (goneIdentity(name) || out.identities[name]) continue;
    out.identities[name] = ident;
  }
  // Drop escrow identities no wrap names any more? No: an identity entry is what offline recovery
  // opens with its password; keep it. Check the bounds with the real serializer.
  try {
    const text = serializeKeyring(out);
    if (Buffer.byteLength(text, 'utf8') <= KEYRING_LIMITS.maxBytes) return { keyring: out, droppedEscrow: 0 };
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_KEYRING_INVALID')) throw err;
  }
  return { keyring: base(), droppedEscrow: escrowCount };
}

/** A new empty keyring (no key yet: callers add one before saving). */
export function emptyKeyring(): Keyring {
  return { format: KEYRING_FORMAT, keys: [], identities: {} };
}
