// Keys: keyrings per mount (store copy + backend escrow), unlocked key sets,
// custody (recovery identity, revocations, master key file). Re-encryption is an
// offline job: tools/reencrypt.ts.
export { KEYRING_DIR, KEYRING_PATH, REJECTED_KEYRING_PATH, KeyringService, unlockHeld, unlockKeys } from './keyring-service.js';
export type { EditContext, IdentityInfo, KeyringServiceOptions, OpenIdentity, TrustedKeyring } from './keyring-service.js';
export { createMountKeySet, wipeMountKeys } from './keyset.js';
export { formatMountId, homeMountId, parseMountId, requireMountId, sameMountId, sharedMountId, type MountId } from './mount-id.js';
export type { MountKey, MountKeySet } from './types.js';
export {
  addCurrentKey,
  currentEntry,
  currentId,
  currentOf,
  dropKeysExcept,
  emptyKeyring,
  importAuthenticated,
  mergeEscrow,
  recipientsOf,
  removeIdentity,
  removeWrapsOf,
  tagHeld,
  unwrapEvery,
  wrapKeysTo,
} from './keyring-edit.js';
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
