// Password envelope of an identity's X25519 private key (docs/DESIGN.md §4):
// KEK = argon2id(password, salt), AES-256-GCM with AAD "davcrypt/identity/v1:" || name.
// Pure code with an injectable random source; no I/O, no keyring handling.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import argon2 from 'argon2';
import { davError } from '../errors.js';
import { defaultRandom, type RandomSource } from './random.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES } from './wrap.js';
import { X25519_KEY_BYTES } from './x25519.js';

export const ENVELOPE_AAD_PREFIX = 'davcrypt/identity/v1:';
export const ENVELOPE_SALT_BYTES = 16;

/** argon2id cost: m in KiB, t iterations, p lanes. */
export interface Argon2Params {
  m: number;
  t: number;
  p: number;
}

export const DEFAULT_ARGON2_PARAMS: Argon2Params = Object.freeze({ m: 65536, t: 3, p: 4 });

/**
 * Bounds a reader accepts (the keyring may come from the untrusted backend: a huge m would be a
 * denial of service). m must also be at least 8 * p (argon2's own rule).
 */
export const ARGON2_LIMITS = Object.freeze({ maxM: 1_048_576, maxT: 64, maxP: 64 });

/** Upper bounds for argon2 parameters (m in KiB). */
export interface Argon2Bounds {
  maxM: number;
  maxT: number;
  maxP: number;
}

/** t and p bounds for an envelope the reader did not write (FORMAT.md §3.5). */
export const FOREIGN_ARGON2_MAX_T = 16;
export const FOREIGN_ARGON2_MAX_P = 16;

/**
 * Bounds for envelopes the reader did not write itself (read from a backend keyring): m at most
 * 4x the configured m, t and p at most 16 (or the configured value when that is higher), never
 * beyond ARGON2_LIMITS. Checked before any argon2 work, so a planted keyring costs nothing.
 */
export function foreignEnvelopeBounds(configured: Argon2Params = DEFAULT_ARGON2_PARAMS): Argon2Bounds {
  return {
    maxM: Math.min(ARGON2_LIMITS.maxM, 4 * configured.m),
    maxT: Math.min(ARGON2_LIMITS.maxT, Math.max(FOREIGN_ARGON2_MAX_T, configured.t)),
    maxP: Math.min(ARGON2_LIMITS.maxP, Math.max(FOREIGN_ARGON2_MAX_P, configured.p)),
  };
}

/** A sealed identity private key, as stored in the keyring (binary fields standard base64). */
export interface Envelope {
  kdf: 'argon2id';
  m: number;
  t: number;
  p: number;
  /** argon2 salt, 16 bytes. */
  salt: string;
  /** AES-GCM nonce, 12 bytes. */
  nonce: string;
  /** AES-GCM ciphertext of the 32-byte private key followed by the 16-byte tag (48 bytes). */
  ct: string;
}

/** Returns a reason string when params are out of `bounds` (default ARGON2_LIMITS), else undefined. */
export function argon2ParamsProblem(params: Argon2Params, bounds: Argon2Bounds = ARGON2_LIMITS): string | undefined {
  const { m, t, p } = params;
  if (!Number.isInteger(p) || p < 1 || p > bounds.maxP) return `p must be an integer in 1..${bounds.maxP}`;
  if (!Number.isInteger(t) || t < 1 || t > bounds.maxT) return `t must be an integer in 1..${bounds.maxT}`;
  if (!Number.isInteger(m) || m < 8 * p || m > bounds.maxM) {
    return `m must be an integer in ${8 * p}..${bounds.maxM} (KiB)`;
  }
  return undefined;
}

async function deriveKek(password: string, salt: Buffer, params: Argon2Params): Promise<Buffer> {
  return argon2.hash(password, {
    type: argon2.argon2id,
    salt,
    raw: true,
    hashLength: 32,
    memoryCost: params.m,
    timeCost: params.t,
    parallelism: params.p,
  });
}

function aad(identityName: string): Buffer {
  return Buffer.from(ENVELOPE_AAD_PREFIX + identityName, 'utf8');
}

/**
 * Seals a 32-byte X25519 private key under a password. The random source supplies the salt,
 * then the nonce. The password is used as its UTF-8 bytes, without normalization.
 * Throws DC_ERR_BAD_REQUEST for a wrong key length or out-of-bounds params.
 */
export async function sealIdentity(
  privateKey: Buffer,
  identityName: string,
  password: string,
  params: Argon2Params = DEFAULT_ARGON2_PARAMS,
  random: RandomSource = defaultRandom,
): Promise<Envelope> {
  if (privateKey.length !== X25519_KEY_BYTES) throw davError('DC_ERR_BAD_REQUEST', 'private key must be 32 bytes');
  const problem = argon2ParamsProblem(params);
  if (problem) throw davError('DC_ERR_BAD_REQUEST', `argon2 parameters: ${problem}`);
  const salt = random(ENVELOPE_SALT_BYTES);
  const kek = await deriveKek(password, salt, params);
  const nonce = random(GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(aad(identityName));
  const ct = Buffer.concat([cipher.update(privateKey), cipher.final(), cipher.getAuthTag()]);
  return {
    kdf: 'argon2id',
    m: params.m,
    t: params.t,
    p: params.p,
    salt: salt.toString('base64'),
    nonce: nonce.toString('base64'),
    ct: ct.toString('base64'),
  };
}

/**
 * Opens an envelope; returns the 32-byte private key. Throws DC_ERR_WRONG_PASSWORD when the tag
 * fails (wrong password, wrong identity name, or an altered envelope: they cannot be told apart),
 * DC_ERR_KEYRING_INVALID for malformed fields or params out of `bounds` (default ARGON2_LIMITS;
 * give foreignEnvelopeBounds() for an envelope read from a backend), before any argon2 work.
 */
export async function openIdentity(envelope: Envelope, identityName: string, password: string, bounds?: Argon2Bounds): Promise<Buffer> {
  if (envelope?.kdf !== 'argon2id') throw davError('DC_ERR_KEYRING_INVALID', 'envelope.kdf must be "argon2id"');
  const problem = argon2ParamsProblem(envelope, bounds);
  if (problem) throw davError('DC_ERR_KEYRING_INVALID', `envelope: ${problem}`);
  const salt = Buffer.from(envelope.salt ?? '', 'base64');
  const nonce = Buffer.from(envelope.nonce ?? '', 'base64');
  const ct = Buffer.from(envelope.ct ?? '', 'base64');
  if (salt.length !== ENVELOPE_SALT_BYTES || nonce.length !== GCM_NONCE_BYTES || ct.length !== X25519_KEY_BYTES + GCM_TAG_BYTES) {
    throw davError('DC_ERR_KEYRING_INVALID', 'envelope salt, nonce or ct has the wrong length');
  }
  const kek = await deriveKek(password, salt, envelope);
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, nonce);
    decipher.setAAD(aad(identityName));
    decipher.setAuthTag(ct.subarray(X25519_KEY_BYTES));
    return Buffer.concat([decipher.update(ct.subarray(0, X25519_KEY_BYTES)), decipher.final()]);
  } catch (err) {
    throw davError('DC_ERR_WRONG_PASSWORD', `wrong password for ${identityName} (it does not open that identity's sealed private key)`, { cause: err });
  }
}
