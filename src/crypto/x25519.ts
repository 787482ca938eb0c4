// Raw 32-byte X25519 keys over node:crypto KeyObjects (fixed DER prefixes for
// PKCS#8 / SPKI), so the rest of crypto/ handles keys as plain Buffers.
// Pure key arithmetic; no I/O.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { davError } from '../errors.js';

export const X25519_KEY_BYTES = 32;
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** An X25519 key pair as raw 32-byte keys. */
export interface IdentityKeyPair {
  publicKey: Buffer;
  privateKey: Buffer;
}

function checkRaw(key: Buffer, what: string): void {
  if (!Buffer.isBuffer(key) || key.length !== X25519_KEY_BYTES) {
    throw davError('DC_ERR_BAD_REQUEST', `${what} must be ${X25519_KEY_BYTES} raw bytes`);
  }
}

/** KeyObject of a raw private key. Throws DC_ERR_BAD_REQUEST on a wrong length. */
export function privateKeyObject(privateKey: Buffer): KeyObject {
  checkRaw(privateKey, 'X25519 private key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
}

/** KeyObject of a raw public key. Throws DC_ERR_BAD_REQUEST on a wrong length. */
export function publicKeyObject(publicKey: Buffer): KeyObject {
  checkRaw(publicKey, 'X25519 public key');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** Raw public key of a raw private key. Throws DC_ERR_BAD_REQUEST on a wrong length. */
export function publicKeyFromPrivate(privateKey: Buffer): Buffer {
  const spki = createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(SPKI_PREFIX.length));
}

/** A fresh random identity key pair. */
export function generateIdentityKeyPair(): IdentityKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const raw = Buffer.from(pkcs8.subarray(PKCS8_PREFIX.length));
  return { privateKey: raw, publicKey: publicKeyFromPrivate(raw) };
}

/** X25519(privateKey, publicKey). Throws DC_ERR_UNWRAP_FAILED for a low-order public key (all-zero secret). */
export function x25519(privateKey: Buffer, publicKey: Buffer): Buffer {
  try {
    return diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) });
  } catch (err) {
    throw davError('DC_ERR_UNWRAP_FAILED', 'X25519 agreement failed (invalid public key)', { cause: err });
  }
}
