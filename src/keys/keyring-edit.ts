// Edits of a keyring object in memory for key custody (docs/DESIGN.md §4): wrap held keys
// to an identity, remove an identity and its wraps, add a new current key, drop
// old keys, unwrap every key of one identity. Pure: no store, no backend, no
// passwords; callers save the result through KeyringService.
import { newMountKey, unwrapMountKey, wrapMountKey, type Keyring } from '../crypto/index.js';
import { davError } from '../errors.js';
import type { IdentityInfo } from './keyring-service.js';
import type { MountKey } from './types.js';

/** Every identity of the keyring, as wrap recipients (the keyring came from the trusted store). */
export function recipientsOf(keyring: Keyring, except: string[] = []): IdentityInfo[] {
  return Object.entries(keyring.identities)
    .filter(([name]) => !except.includes(name))
    .map(([name, ident]) => ({ name, publicKey: Buffer.from(ident.publicKey, 'base64'), envelope: ident.envelope }));
}

/**
 * Sets `identity` in the keyring and wraps every key of `held` to it that lacks a wrap. When the
 * keyring held another public key under that name, its wraps are removed first (they could never
 * open again). Returns the number of wraps added.
 */
export function wrapKeysTo(keyring: Keyring, held: MountKey[], identity: IdentityInfo): number {
  const publicKey = identity.publicKey.toString('base64');
  const entry = keyring.identities[identity.name];
  if (entry && entry.publicKey !== publicKey) removeWrapsOf(keyring, identity.name);
  keyring.identities[identity.name] = identity.envelope ? { publicKey, envelope: identity.envelope } : { publicKey };
  let added = 0;
  for (const key of held) {
    const slot = keyring.keys.find((k) => k.id === key.id.toString('hex'));
    if (!slot || slot.wraps.some((w) => w.to === identity.name)) continue;
    slot.wraps.push(wrapMountKey(key, identity.publicKey, identity.name));
    added++;
  }
  return added;
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
 * Adds a fresh key, wrapped to every identity in the keyring, and makes it current. Returns the
 * new key (the caller wipes it when done). Old keys and their wraps stay, so old files still read.
 */
export function addCurrentKey(keyring: Keyring, created: Date = new Date()): MountKey {
  const key = newMountKey();
  const hex = key.id.toString('hex');
  keyring.keys.push({ id: hex, created: created.toISOString(), wraps: [] });
  for (const r of recipientsOf(keyring)) keyring.keys.at(-1)!.wraps.push(wrapMountKey(key, r.publicKey, r.name));
  keyring.current = hex;
  return key;
}

/** Drops every key but the current one and those in `keep`; returns the dropped ids. */
export function dropKeysExcept(keyring: Keyring, keep: Set<string> = new Set()): string[] {
  const dropped = keyring.keys.filter((k) => k.id !== keyring.current && !keep.has(k.id)).map((k) => k.id);
  keyring.keys = keyring.keys.filter((k) => k.id === keyring.current || keep.has(k.id));
  return dropped;
}

/**
 * Unwraps every key wrapped to `identity`. Returns them (possibly none) and the ids of the keys
 * that have no wrap to it. Throws DC_ERR_UNWRAP_FAILED when a wrap to it does not open (the
 * private key is not this identity's, or the keyring was altered).
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
  const current = held.find((k) => k.id.toString('hex') === keyring.current);
  if (!current) throw davError('DC_ERR_NO_ACCESS', `the current key ${keyring.current} is not among the unwrapped keys`);
  return current;
}
