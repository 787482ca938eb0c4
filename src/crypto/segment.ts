// Seals and opens ONE segment of format v1 (docs/DESIGN.md §3): IV construction,
// AES-256-CTR, HMAC-SHA-256 over IV || C, constant-time tag check.
// Pure and synchronous; knows nothing of streams, headers on disk, or backends.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { davError } from '../errors.js';
import { NONCE_PREFIX_BYTES, TAG_BYTES, type FileKeys } from './format.js';
import { MAX_SEGMENTS } from './ranges.js';

export const IV_BYTES = 16;

/** IV_i = noncePrefix (7) || u32(i) || last (0x01 / 0x00) || 0x00000000. */
export function segmentIv(noncePrefix: Buffer, segmentIndex: number, last: boolean): Buffer {
  if (noncePrefix.length !== NONCE_PREFIX_BYTES) {
    throw davError('DC_ERR_INTERNAL', `nonce prefix must be ${NONCE_PREFIX_BYTES} bytes`);
  }
  if (!Number.isInteger(segmentIndex) || segmentIndex < 0 || segmentIndex >= MAX_SEGMENTS) {
    throw davError('DC_ERR_INTERNAL', `segment index ${segmentIndex} out of range`);
  }
  const iv = Buffer.alloc(IV_BYTES);
  noncePrefix.copy(iv, 0);
  iv.writeUInt32BE(segmentIndex, NONCE_PREFIX_BYTES);
  iv[NONCE_PREFIX_BYTES + 4] = last ? 1 : 0;
  return iv;
}

function computeTag(keys: FileKeys, iv: Buffer, cipherText: Buffer): Buffer {
  return createHmac('sha256', keys.macKeyObject ?? keys.macKey).update(iv).update(cipherText).digest();
}

/** Encrypts one segment's plaintext. Returns the ciphertext (same length) and its 32-byte tag separately. */
export function sealSegment(
  keys: FileKeys,
  noncePrefix: Buffer,
  segmentIndex: number,
  last: boolean,
  plain: Buffer,
): { cipherText: Buffer; tag: Buffer } {
  const iv = segmentIv(noncePrefix, segmentIndex, last);
  const cipher = createCipheriv('aes-256-ctr', keys.aesKeyObject ?? keys.aesKey, iv);
  const cipherText = plain.length === 0 ? Buffer.alloc(0) : cipher.update(plain);
  return { cipherText, tag: computeTag(keys, iv, cipherText) };
}

/** One segment sealed piece by piece: the same bytes as sealSegment, for plaintext that arrives in parts. */
export interface SegmentSealer {
  /** Ciphertext of the next plaintext piece (same length). */
  update(plain: Buffer): Buffer;
  /** The segment's 32-byte tag, once all its plaintext went through update(). */
  final(): Buffer;
}

/**
 * Starts sealing segment i. Only possible when `last` is known before the segment's bytes are,
 * e.g. from a declared plaintext size: the last flag enters the IV of the first cipher block.
 */
export function startSegment(keys: FileKeys, noncePrefix: Buffer, segmentIndex: number, last: boolean): SegmentSealer {
  const iv = segmentIv(noncePrefix, segmentIndex, last);
  const cipher = createCipheriv('aes-256-ctr', keys.aesKeyObject ?? keys.aesKey, iv);
  const mac = createHmac('sha256', keys.macKeyObject ?? keys.macKey).update(iv);
  return {
    update(plain) {
      const cipherText = plain.length === 0 ? Buffer.alloc(0) : cipher.update(plain);
      mac.update(cipherText);
      return cipherText;
    },
    final: () => mac.digest(),
  };
}

/** True when `tag` authenticates `cipherText` as segment i with this last flag (constant-time compare). */
export function verifySegment(
  keys: FileKeys,
  noncePrefix: Buffer,
  segmentIndex: number,
  last: boolean,
  cipherText: Buffer,
  tag: Buffer,
): boolean {
  if (tag.length !== TAG_BYTES) return false;
  const iv = segmentIv(noncePrefix, segmentIndex, last);
  return timingSafeEqual(computeTag(keys, iv, cipherText), tag);
}

/**
 * Verifies, then decrypts one segment given as C_i || T_i. Never returns plaintext of a segment
 * whose tag fails. Throws DC_ERR_TAMPERED (details.segment = index) on a bad tag or a segment
 * shorter than a tag.
 */
export function openSegment(
  keys: FileKeys,
  noncePrefix: Buffer,
  segmentIndex: number,
  last: boolean,
  sealed: Buffer,
): Buffer {
  if (sealed.length < TAG_BYTES) {
    throw davError('DC_ERR_TAMPERED', `segment ${segmentIndex} is shorter than its tag`, {
      details: { segment: segmentIndex },
    });
  }
  const cipherText = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const iv = segmentIv(noncePrefix, segmentIndex, last);
  if (!timingSafeEqual(computeTag(keys, iv, cipherText), tag)) {
    throw davError('DC_ERR_TAMPERED', `segment ${segmentIndex} failed authentication`, {
      details: { segment: segmentIndex },
    });
  }
  if (cipherText.length === 0) return Buffer.alloc(0);
  return createDecipheriv('aes-256-ctr', keys.aesKeyObject ?? keys.aesKey, iv).update(cipherText);
}
