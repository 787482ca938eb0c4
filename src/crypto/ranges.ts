// Size and offset arithmetic of format v1 (docs/DESIGN.md §3): plaintext <-> ciphertext
// sizes, segment offsets, and the mapping of a plaintext byte range to the
// ciphertext span that holds it. Pure arithmetic on safe integers; no I/O.
import { davError } from '../errors.js';
import { DEFAULT_SEGMENT_EXPONENT, HEADER_BYTES, TAG_BYTES, checkSegmentExponent } from './format.js';

/** Largest number of segments a file may have (the index is a u32). */
export const MAX_SEGMENTS = 2 ** 32;

/** Plaintext bytes per (non-final) segment: S = 2^e. */
export function segmentPlainBytes(segmentExponent: number = DEFAULT_SEGMENT_EXPONENT): number {
  checkSegmentExponent(segmentExponent);
  return 2 ** segmentExponent;
}

/** Ciphertext bytes per full segment, tag included: S + 32. */
export function segmentCipherBytes(segmentExponent: number = DEFAULT_SEGMENT_EXPONENT): number {
  return segmentPlainBytes(segmentExponent) + TAG_BYTES;
}

/**
 * n = max(1, ceil(plainSize / S)). Throws DC_ERR_BAD_REQUEST on a negative or non-integer size,
 * DC_ERR_PAYLOAD_TOO_LARGE when n would exceed 2^32 segments.
 */
export function segmentCountForPlain(plainSize: number, segmentExponent: number = DEFAULT_SEGMENT_EXPONENT): number {
  checkSize(plainSize, 'plainSize');
  const n = Math.max(1, Math.ceil(plainSize / segmentPlainBytes(segmentExponent)));
  if (n > MAX_SEGMENTS) {
    throw davError('DC_ERR_PAYLOAD_TOO_LARGE', `${plainSize} bytes need more than 2^32 segments of 2^${segmentExponent}`);
  }
  return n;
}

/** Absolute file offset where segment i's ciphertext starts: 65 + i * (S + 32). */
export function cipherOffsetOfSegment(segmentIndex: number, segmentExponent: number = DEFAULT_SEGMENT_EXPONENT): number {
  return HEADER_BYTES + segmentIndex * segmentCipherBytes(segmentExponent);
}

/** C(p) = 65 + p + 32 * max(1, ceil(p / S)). Throws as segmentCountForPlain. */
export function cipherSizeForPlain(plainSize: number, segmentExponent: number = DEFAULT_SEGMENT_EXPONENT): number {
  return HEADER_BYTES + plainSize + TAG_BYTES * segmentCountForPlain(plainSize, segmentExponent);
}

/**
 * Inverse of cipherSizeForPlain: undefined when no plaintext size maps to `cipherSize`
 * (below 97 bytes, or a final segment shorter than its tag, or an empty non-first segment).
 */
export function plainSizeForCipher(
  cipherSize: number,
  segmentExponent: number = DEFAULT_SEGMENT_EXPONENT,
): number | undefined {
  if (!Number.isSafeInteger(cipherSize) || cipherSize < HEADER_BYTES + TAG_BYTES) return undefined;
  const n = Math.ceil((cipherSize - HEADER_BYTES) / segmentCipherBytes(segmentExponent));
  if (n > MAX_SEGMENTS) return undefined;
  const plainSize = cipherSize - HEADER_BYTES - TAG_BYTES * n;
  if (plainSize < 0) return undefined;
  return cipherSizeForPlain(plainSize, segmentExponent) === cipherSize ? plainSize : undefined;
}

/** The ciphertext span that holds a plaintext range, and how to cut the range out of its plaintext. */
export interface CipherSpan {
  /** Index of the first and last segment holding the range. */
  firstSegment: number;
  lastSegment: number;
  segmentCount: number;
  /** Absolute file offsets of the span, both inclusive (header not included). */
  cipherStart: number;
  cipherEnd: number;
  /** Plaintext bytes to drop from the start of firstSegment's plaintext. */
  skipPlainBytes: number;
  /** Length of the plaintext range (plainEnd - plainStart + 1). */
  plainLength: number;
}

/**
 * Maps the inclusive plaintext range [plainStart, plainEnd] of a file of plainSize bytes to the
 * segments to fetch. Throws DC_ERR_RANGE_NOT_SATISFIABLE unless 0 <= plainStart <= plainEnd < plainSize
 * (so nothing is satisfiable in an empty file); DC_ERR_BAD_REQUEST on non-integers.
 */
export function planPlainRange(
  plainStart: number,
  plainEnd: number,
  plainSize: number,
  segmentExponent: number = DEFAULT_SEGMENT_EXPONENT,
): CipherSpan {
  checkSize(plainSize, 'plainSize');
  checkSize(plainStart, 'plainStart');
  checkSize(plainEnd, 'plainEnd');
  if (plainStart > plainEnd || plainEnd >= plainSize) {
    throw davError(
      'DC_ERR_RANGE_NOT_SATISFIABLE',
      `range ${plainStart}-${plainEnd} is outside a ${plainSize}-byte file`,
      { details: { plainStart, plainEnd, plainSize } },
    );
  }
  const segmentBytes = segmentPlainBytes(segmentExponent);
  const firstSegment = Math.floor(plainStart / segmentBytes);
  const lastSegment = Math.floor(plainEnd / segmentBytes);
  const cipherSize = cipherSizeForPlain(plainSize, segmentExponent);
  return {
    firstSegment,
    lastSegment,
    segmentCount: lastSegment - firstSegment + 1,
    cipherStart: cipherOffsetOfSegment(firstSegment, segmentExponent),
    cipherEnd: Math.min(cipherOffsetOfSegment(lastSegment + 1, segmentExponent), cipherSize) - 1,
    skipPlainBytes: plainStart - firstSegment * segmentBytes,
    plainLength: plainEnd - plainStart + 1,
  };
}

function checkSize(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw davError('DC_ERR_BAD_REQUEST', `${name} must be a non-negative safe integer, got ${value}`);
  }
}
