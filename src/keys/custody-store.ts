// Key-custody state in the gateway store (keyv), beside the keyrings: the recovery
// identity, per-mount revocation markers, the list of keyrings ever saved, and a
// "keys epoch" counter that running gateways poll to drop cached logins after an
// admin command changed keys. Read-modify-write values are edited under the store
// mutex. Storage only: no crypto, no backend.
import type Keyv from 'keyv';
import type { Envelope } from '../crypto/index.js';
import { sharedStoreMutex } from '../store-mutex.js';
import { formatMountId, parseMountId, type MountId } from './mount-id.js';

const RECOVERY_KEY = 'identity:recovery';
const REVOKED_PREFIX = 'revoked:';
const INDEX_KEY = 'keyrings';
const EPOCH_KEY = 'meta:keysEpoch';

/** What the store keeps for the recovery identity (public key standard base64). */
export interface StoredRecovery {
  publicKey: string;
  envelope: Envelope;
  created?: string;
  /**
   * The recovery identity's keyring tag key (base64 of deriveTagKey(private key), FORMAT.md §3.4),
   * left by `recovery init` (or the first command that opened the recovery identity) so the
   * gateway tags wraps to recovery as it makes them. Whoever holds it can vouch for keys to
   * `recover --recovery`: see docs/SECURITY.md §3.
   */
  tagKey?: string;
}

export function getStoredRecovery(store: Keyv): Promise<StoredRecovery | undefined> {
  return store.get<StoredRecovery>(RECOVERY_KEY);
}

export async function setStoredRecovery(store: Keyv, value: StoredRecovery): Promise<void> {
  await store.set(RECOVERY_KEY, value);
}

/** Users revoked from a mount: the gateway never wraps keys to them again unless `mount grant` says so. */
export async function revokedUsers(store: Keyv, id: MountId): Promise<string[]> {
  return (await store.get<string[]>(REVOKED_PREFIX + formatMountId(id))) ?? [];
}

/**
 * Adds or removes `user` in a mount's revocation marker, under the store mutex `revoked:<mountId>`
 * (callable inside the `keyring:<mountId>` mutex). Throws store errors, DC_ERR_INTERNAL (mutex).
 */
export async function markRevoked(store: Keyv, id: MountId, user: string, revoked: boolean): Promise<void> {
  const key = REVOKED_PREFIX + formatMountId(id);
  await sharedStoreMutex(store).run(key, async () => {
    const now = await revokedUsers(store, id);
    const next = revoked ? [...new Set([...now, user])].sort() : now.filter((u) => u !== user);
    if (next.length === 0) await store.delete(key);
    else await store.set(key, next);
  });
}

/**
 * Ids of every mount whose keyring was ever saved through KeyringService (best effort index). An
 * entry that is not a mount id (only a hand-edited store has one) is left out, as it was when
 * the custody commands resolved each entry to a configured mount.
 */
export async function keyringIndex(store: Keyv): Promise<MountId[]> {
  return (await storedIndex(store)).flatMap((text) => parseMountId(text) ?? []);
}

/** Read-modify-write: the caller holds the `keyring-index` store mutex (KeyringService.save does). */
export async function addToKeyringIndex(store: Keyv, id: MountId): Promise<void> {
  const idText = formatMountId(id);
  const ids = await storedIndex(store);
  if (!ids.includes(idText)) await store.set(INDEX_KEY, [...ids, idText].sort());
}

async function storedIndex(store: Keyv): Promise<string[]> {
  return (await store.get<string[]>(INDEX_KEY)) ?? [];
}

/** The current keys epoch (0 when never bumped). */
export async function keysEpoch(store: Keyv): Promise<number> {
  return (await store.get<number>(EPOCH_KEY)) ?? 0;
}

/**
 * Tells running gateways that keys changed: they drop cached logins at their next recheck.
 * Under the store mutex `keys-epoch`, so concurrent bumps never collapse into one value.
 * Throws store errors, DC_ERR_INTERNAL (mutex).
 */
export async function bumpKeysEpoch(store: Keyv): Promise<number> {
  return sharedStoreMutex(store).run('keys-epoch', async () => {
    const next = (await keysEpoch(store)) + 1;
    await store.set(EPOCH_KEY, next);
    return next;
  });
}
