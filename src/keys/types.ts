// Key material types of keys/: the unlocked mount keys are defined in crypto/
// (crypto/mount-key.ts, because the cipher consumes them) and re-exported here.
export type { MountKey, MountKeySet } from '../crypto/index.js';
