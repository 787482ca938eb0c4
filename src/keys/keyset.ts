// An in-memory MountKeySet (types.ts) built from unwrapped mount keys. Holds
// secrets: callers drop it with the login that unlocked it. No I/O.
import type { MountKey, MountKeySet } from './types.js';

/** Builds a key set; `current` must be one of `keys` (compared by id). */
export function createMountKeySet(keys: MountKey[], current: MountKey): MountKeySet {
  const byHex = new Map<string, MountKey>();
  for (const k of keys) byHex.set(k.id.toString('hex'), k);
  byHex.set(current.id.toString('hex'), current);
  return {
    current,
    get(id: Buffer | string): MountKey | undefined {
      return byHex.get(typeof id === 'string' ? id.toLowerCase() : id.toString('hex'));
    },
  };
}

/** Overwrites the secret bytes of every key (best effort: a copy may survive in the GC heap). */
export function wipeMountKeys(keys: Iterable<MountKey>): void {
  for (const k of keys) k.key.fill(0);
}
