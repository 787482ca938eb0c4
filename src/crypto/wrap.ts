// X25519 wrap of a 32-byte mount key to an identity's public key (docs/DESIGN.md §4):
// ephemeral ECDH, HKDF-SHA-256 with salt E || R, AES-256-GCM with the key id as AAD.
// Pure code with an injectable random source; no I/O, no keyring handling.
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { davError } from '../errors.js';
import type { MountKey } from './mount-key.js';
import { KEY_ID_BYTES, MOUNT_KEY_BYTES } from './format.js';
import { defaultRandom, type RandomSource } from './random.js';
import { X25519_KEY_BYTES, publicKeyFromPrivate, x25519 } from './x25519.js';

export const WRAP_INFO = 'davcrypt/wrap/v1';
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** One wrap of a mount key, as stored in the keyring (all binary fields standard base64). */
export interface KeyWrap {
  /** Identity name: "user:NAME", "recovery" or "master". */
  to: string;
  /** Ephemeral X25519 public key E (32 bytes). */
  epk: string;
  /** AES-GCM nonce (12 bytes). */
  nonce: string;
  /** AES-GCM ciphertext of the mount key followed by the 16-byte tag (48 bytes). */
  ct: string;
  /**
   * Keyring format 2 only: the keyring tag of this wrap (HMAC-SHA-256, 32 bytes; keyring-tag.ts,
   * FORMAT.md §3.4). Absent while nobody holding the recipient's private key has tagged it.
   */
  tag?: string;
}

function wrapKey(shared: Buffer, ephemeralPublic: Buffer, recipientPublic: Buffer): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephemeralPublic, recipientPublic]), Buffer.from(WRAP_INFO, 'utf8'), 32),
  );
}

/** Wraps `key.key` to `recipientPublicKey`. The random source supplies the ephemeral private key, then the nonce. */
export function wrapMountKey(
  key: MountKey,
  recipientPublicKey: Buffer,
  to: string,
  random: RandomSource = defaultRandom,
): KeyWrap {
  if (key.key.length !== MOUNT_KEY_BYTES || key.id.length !== KEY_ID_BYTES) {
    throw davError('DC_ERR_BAD_REQUEST', 'mount key must be 32 bytes with a 16-byte id');
  }
  const ephemeralPrivate = random(X25519_KEY_BYTES);
  const ephemeralPublic = publicKeyFromPrivate(ephemeralPrivate);
  const shared = x25519(ephemeralPrivate, recipientPublicKey);
  const nonce = random(GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', wrapKey(shared, ephemeralPublic, recipientPublicKey), nonce);
  cipher.setAAD(key.id);
  const ct = Buffer.concat([cipher.update(key.key), cipher.final(), cipher.getAuthTag()]);
  return { to, epk: ephemeralPublic.toString('base64'), nonce: nonce.toString('base64'), ct: ct.toString('base64') };
}

/**
 * Opens a wrap with the recipient's private key; `keyId` (16 bytes) must be the id the key was
 * wrapped under. Returns the 32-byte mount key. Throws DC_ERR_UNWRAP_FAILED on any mismatch
 * (wrong identity, wrong key id, altered fields, malformed lengths).
 */
export function unwrapMountKey(wrap: KeyWrap, keyId: Buffer, recipientPrivateKey: Buffer): Buffer {
  const epk = Buffer.from(wrap.epk ?? '', 'base64');
  const nonce = Buffer.from(wrap.nonce ?? '', 'base64');
  const ct = Buffer.from(wrap.ct ?? '', 'base64');
  if (
    epk.length !== X25519_KEY_BYTES ||
    nonce.length !== GCM_NONCE_BYTES ||
    ct.length !== MOUNT_KEY_BYTES + GCM_TAG_BYTES ||
    keyId.length !== KEY_ID_BYTES
  ) {
    throw davError('DC_ERR_UNWRAP_FAILED', `wrap to ${wrap.to} has malformed fields`);
  }
  const recipientPublic = publicKeyFromPrivate(recipientPrivateKey);
  const shared = x25519(recipientPrivateKey, epk);
  try {
    const decipher = createDecipheriv('aes-256-gcm', wrapKey(shared, epk, recipientPublic), nonce);
    decipher.setAAD(keyId);
    decipher.setAuthTag(ct.subarray(MOUNT_KEY_BYTES));
    return Buffer.concat([decipher.update(ct.subarray(0, MOUNT_KEY_BYTES)), decipher.final()]);
  } catch (err) {
    throw davError('DC_ERR_UNWRAP_FAILED', `wrap to ${wrap.to} does not open with this identity`, { cause: err });
  }
}
