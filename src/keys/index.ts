// Keys: keyrings per mount (store copy + backend escrow), unlocked key sets,
// custody (recovery identity, revocations, master key file). Re-encryption is an
// offline job: tools/reencrypt.ts.
export { KEYRING_DIR, KEYRING_PATH, KeyringService, unlockKeys } from './keyring-service.js';
export type { IdentityInfo, KeyringServiceOptions, OpenIdentity } from './keyring-service.js';
export { createMountKeySet, wipeMountKeys } from './keyset.js';
export type { MountKey, MountKeySet } from './types.js';
export { addCurrentKey, currentOf, dropKeysExcept, recipientsOf, removeIdentity, removeWrapsOf, unwrapEvery, wrapKeysTo } from './keyring-edit.js';
export {
  addToKeyringIndex,
  bumpKeysEpoch,
  getStoredRecovery,
  keyringIndex,
  keysEpoch,
  markRevoked,
  revokedUsers,
  setStoredRecovery,
} from './custody-store.js';
export type { StoredRecovery } from './custody-store.js';
export { MASTER_IDENTITY, createMasterKeyFile, readMasterKeyFile } from './master-key.js';
export type { MasterKey } from './master-key.js';
