// File format v1 header (docs/DESIGN.md §3): constants, encode/parse of the 65-byte
// header, and the per-file key derivation (HKDF-SHA-256 bound to the preamble).
// Pure code: no I/O, no streams, no backends.
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { davError } from '../errors.js';

/** ASCII "DAVCRYPT", the first 8 bytes of every encrypted file. */
export const MAGIC: Buffer = Buffer.from('DAVCRYPT', 'ascii');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 65;
export const TAG_BYTES = 32;
export const DEFAULT_SEGMENT_EXPONENT = 16;
/** Readers accept segment exponents in this inclusive range (4 KiB .. 16 MiB segments). */
export const MIN_SEGMENT_EXPONENT = 12;
export const MAX_SEGMENT_EXPONENT = 24;
export const KEY_ID_BYTES = 16;
export const MOUNT_KEY_BYTES = 32;
export const SALT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
/** Length of the preamble (magic, version, e, key id) that is bound into the HKDF info. */
export const PREAMBLE_BYTES = 26;

const OFFSET_VERSION = 8;
const OFFSET_EXPONENT = 9;
const OFFSET_KEY_ID = 10;
const OFFSET_SALT = 26;
const OFFSET_NONCE_PREFIX = 58;

/** A parsed v1 header. `bytes` are the 65 raw bytes as read (they feed HKDF). */
export interface FileHeader {
  version: 1;
  segmentExponent: number;
  keyId: Buffer;
  salt: Buffer;
  noncePrefix: Buffer;
  bytes: Buffer;
}

/** The two per-file keys derived from a mount key and a header. */
export interface FileKeys {
  aesKey: Buffer;
  macKey: Buffer;
  /** The same keys as KeyObjects, made once per file so per-segment cipher/HMAC setup skips key import. */
  aesKeyObject?: KeyObject;
  macKeyObject?: KeyObject;
}

function checkLength(name: string, buf: Buffer, length: number): void {
  if (!Buffer.isBuffer(buf) || buf.length !== length) {
    throw davError('DC_ERR_BAD_HEADER', `header field ${name} must be ${length} bytes`);
  }
}

/** Throws DC_ERR_BAD_HEADER if e is not an integer in 12..24. */
export function checkSegmentExponent(segmentExponent: number): void {
  if (
    !Number.isInteger(segmentExponent) ||
    segmentExponent < MIN_SEGMENT_EXPONENT ||
    segmentExponent > MAX_SEGMENT_EXPONENT
  ) {
    throw davError(
      'DC_ERR_BAD_HEADER',
      `segment exponent ${segmentExponent} is outside ${MIN_SEGMENT_EXPONENT}..${MAX_SEGMENT_EXPONENT}`,
    );
  }
}

/** Builds the 65 header bytes. Throws DC_ERR_BAD_HEADER on a bad field length or exponent. */
export function encodeHeader(h: { segmentExponent: number; keyId: Buffer; salt: Buffer; noncePrefix: Buffer }): Buffer {
  checkSegmentExponent(h.segmentExponent);
  checkLength('keyId', h.keyId, KEY_ID_BYTES);
  checkLength('salt', h.salt, SALT_BYTES);
  checkLength('noncePrefix', h.noncePrefix, NONCE_PREFIX_BYTES);
  const out = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(out, 0);
  out[OFFSET_VERSION] = FORMAT_VERSION;
  out[OFFSET_EXPONENT] = h.segmentExponent;
  h.keyId.copy(out, OFFSET_KEY_ID);
  h.salt.copy(out, OFFSET_SALT);
  h.noncePrefix.copy(out, OFFSET_NONCE_PREFIX);
  return out;
}

/** True when the buffer starts with the 8-byte magic "DAVCRYPT". */
export function hasMagic(buf: Buffer): boolean {
  return buf.length >= MAGIC.length && buf.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) === 0;
}

/**
 * Parses the first 65 bytes of `buf` (extra bytes are ignored).
 * Throws DC_ERR_NOT_ENCRYPTED (no magic), DC_ERR_UNSUPPORTED_VERSION (version byte is not 1),
 * DC_ERR_BAD_HEADER (fewer than 65 bytes, or exponent outside 12..24). Checks run in that order,
 * so an empty buffer, or a short one that is not a prefix of the magic, is DC_ERR_NOT_ENCRYPTED.
 */
export function parseHeader(buf: Buffer): FileHeader {
  const magicPart = Math.min(buf.length, MAGIC.length);
  if (buf.length === 0 || buf.compare(MAGIC, 0, magicPart, 0, magicPart) !== 0) {
    throw davError('DC_ERR_NOT_ENCRYPTED', 'data does not start with the DAVCRYPT magic');
  }
  if (buf.length > OFFSET_VERSION && buf[OFFSET_VERSION] !== FORMAT_VERSION) {
    throw davError('DC_ERR_UNSUPPORTED_VERSION', `unsupported format version ${buf[OFFSET_VERSION]}`, {
      details: { version: buf[OFFSET_VERSION] },
    });
  }
  if (buf.length < HEADER_BYTES) {
    throw davError('DC_ERR_BAD_HEADER', `header is ${buf.length} bytes, expected ${HEADER_BYTES}`);
  }
  const segmentExponent = buf[OFFSET_EXPONENT]!;
  checkSegmentExponent(segmentExponent);
  const bytes = Buffer.from(buf.subarray(0, HEADER_BYTES));
  return {
    version: 1,
    segmentExponent,
    keyId: bytes.subarray(OFFSET_KEY_ID, OFFSET_KEY_ID + KEY_ID_BYTES),
    salt: bytes.subarray(OFFSET_SALT, OFFSET_SALT + SALT_BYTES),
    noncePrefix: bytes.subarray(OFFSET_NONCE_PREFIX, OFFSET_NONCE_PREFIX + NONCE_PREFIX_BYTES),
    bytes,
  };
}

/**
 * okm = HKDF-SHA-256(ikm = mount key, salt = header salt, info = header[0..26), L = 64);
 * aesKey = okm[0..32), macKey = okm[32..64).
 * Throws DC_ERR_INTERNAL when the mount key is not 32 bytes (a caller bug, never a file problem).
 */
export function deriveFileKeys(mountKey: Buffer, header: FileHeader): FileKeys {
  if (mountKey.length !== MOUNT_KEY_BYTES) {
    throw davError('DC_ERR_INTERNAL', `mount key must be ${MOUNT_KEY_BYTES} bytes`);
  }
  const okm = Buffer.from(
    hkdfSync('sha256', mountKey, header.salt, header.bytes.subarray(0, PREAMBLE_BYTES), 64),
  );
  const aesKey = okm.subarray(0, 32);
  const macKey = okm.subarray(32, 64);
  return { aesKey, macKey, aesKeyObject: createSecretKey(aesKey), macKeyObject: createSecretKey(macKey) };
}

/**
 * A bounded LRU of derived file keys, keyed by the header's key id and salt (with the rest of the
 * preamble), for callers whose key id -> mount key mapping never changes (one mount's key set).
 * Saves one HKDF per read of a file seen before. Throws as deriveFileKeys. Keys leaving the cache
 * have their raw bytes zeroed: readers still holding them use the KeyObjects (segment.ts).
 */
export class FileKeyCache {
  private readonly entries: LRUCache<string, FileKeys>;
  constructor(maxEntries = 1024) {
    this.entries = new LRUCache<string, FileKeys>({ max: maxEntries, dispose: wipeFileKeys });
  }

  get(mountKey: Buffer, header: FileHeader): FileKeys {
    const id = header.bytes.toString('base64', 0, OFFSET_NONCE_PREFIX);
    const hit = this.entries.get(id);
    if (hit !== undefined) return hit;
    const keys = deriveFileKeys(mountKey, header);
    this.entries.set(id, keys);
    return keys;
  }
}

/** Zeroes the raw key bytes of derived file keys (their KeyObjects cannot be wiped; they are left to GC). */
export function wipeFileKeys(keys: FileKeys): void {
  keys.aesKey.fill(0);
  keys.macKey.fill(0);
}
