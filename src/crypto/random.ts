// The injectable random source used by every crypto/ function that draws
// randomness (file salts, nonces, ephemeral keys, mount keys), so known-answer
// tests can fix it. No I/O.
import { randomBytes } from 'node:crypto';

/** Returns n cryptographically random bytes (injectable for known-answer tests). */
export type RandomSource = (n: number) => Buffer;

export const defaultRandom: RandomSource = (n) => randomBytes(n);
