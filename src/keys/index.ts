// Keys: keyrings per mount (store copy + backend escrow), unlocked key sets.
export { KEYRING_DIR, KEYRING_PATH, KeyringService, unlockKeys } from './keyring-service.js';
export type { IdentityInfo, KeyringServiceOptions, OpenIdentity } from './keyring-service.js';
export { createMountKeySet, wipeMountKeys } from './keyset.js';
export type { MountKey, MountKeySet } from './types.js';
