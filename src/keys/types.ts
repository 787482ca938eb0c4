// Key material types of keys/: the unlocked mount keys are defined in crypto/
// (crypto/mount-key.ts, because the cipher consumes them) and re-exported here; the
// identities keys are wrapped to, and opened with.
import type { Envelope } from '../crypto/index.js';

export type { MountKey, MountKeySet } from '../crypto/index.js';

/** An identity a key may be wrapped to, from a trusted source (the store, the master key file). */
export interface IdentityInfo {
  /** 'user:alice', 'recovery', 'master'. */
  name: string;
  /** Raw 32-byte X25519 public key. */
  publicKey: Buffer;
  /** Password envelope of the private key, copied into the keyring for recovery. */
  envelope?: Envelope;
}

/** An identity whose private key is open (the logged-in user, the master key, the unlocked recovery). */
export interface OpenIdentity {
  name: string;
  privateKey: Buffer;
  /** Its envelope from a trusted record, for the keyring's identity entry when a key is taken over. */
  envelope?: Envelope;
}
