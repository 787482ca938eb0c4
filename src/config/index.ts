// Configuration: load + validate the YAML file (load.ts), the resolved types (types.ts).
export { DEFAULT_ARGON2, DEFAULT_CONFIG_PATH, loadConfig, masterKeyFileOf, parseConfig, resolveConfig } from './load.js';
export type { LoadOptions } from './load.js';
export { assertValidUserName, isValidUserName } from './user-names.js';
export { assertNoLegacyStorage, legacyStorageDir } from './legacy-storage.js';
export type * from './types.js';
export { DEFAULT_TIMEOUTS, timeoutsOf } from './types.js';
