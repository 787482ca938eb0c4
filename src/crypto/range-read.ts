// Reads one plaintext byte range of an encrypted file at O(range) cost: plans the
// segment span, asks the caller's fetchCipherRange for exactly those ciphertext
// bytes, verifies and decrypts them, and slices out the range. The fetch function
// is the only I/O and is supplied by the caller (never a backend import here).
import type { Readable } from 'node:stream';
import type { FileHeader, FileKeys } from './format.js';
import { planPlainRange, plainSizeForCipher, type CipherSpan } from './ranges.js';
import { createSegmentDecryptStream, createSliceStream } from './stream.js';
import { davError } from '../errors.js';

/** Options of decryptPlainRange. */
export interface PlainRangeOptions {
  header: FileHeader;
  /** The 32-byte mount key named by header.keyId. */
  mountKey: Buffer;
  /** Total size of the encrypted file. */
  cipherSize: number;
  /** Inclusive plaintext range. */
  plainStart: number;
  plainEnd: number;
  /** The file keys when the caller already derived them; else derived from mountKey. */
  fileKeys?: FileKeys;
  /** Streams the inclusive absolute ciphertext range [cipherStart, cipherEnd] of the file. */
  fetchCipherRange: (cipherStart: number, cipherEnd: number) => Promise<Readable>;
}

/**
 * Returns the plaintext of [plainStart, plainEnd] and the span that was fetched. Throws
 * DC_ERR_TRUNCATED (cipherSize invalid), DC_ERR_RANGE_NOT_SATISFIABLE; the returned stream errors
 * with DC_ERR_TAMPERED / TRUNCATED / TRAILING_DATA and never emits bytes of a failing segment.
 */
export async function decryptPlainRange(opts: PlainRangeOptions): Promise<{ body: Readable; span: CipherSpan }> {
  const e = opts.header.segmentExponent;
  const plainSize = plainSizeForCipher(opts.cipherSize, e);
  if (plainSize === undefined) {
    throw davError('DC_ERR_TRUNCATED', `${opts.cipherSize} bytes is not a valid encrypted file size`);
  }
  const span = planPlainRange(opts.plainStart, opts.plainEnd, plainSize, e);
  const decrypt = createSegmentDecryptStream({
    header: opts.header,
    mountKey: opts.mountKey,
    fileKeys: opts.fileKeys,
    firstSegment: span.firstSegment,
    lastSegment: span.lastSegment,
    cipherSize: opts.cipherSize,
  });
  const source = await opts.fetchCipherRange(span.cipherStart, span.cipherEnd);
  const slice = createSliceStream(span.skipPlainBytes, span.plainLength);
  // Every stage goes down with the first error, so the caller sees it on `slice`; destroying `slice`
  // releases the source. (Not stream.pipeline: it costs an AbortController, a DOMException and a
  // stack-captured error per call even on success, which shows in per-request CPU.)
  const fail = (err: Error) => {
    if (!slice.destroyed) slice.destroy(err);
    if (!decrypt.destroyed) decrypt.destroy(err);
    if (!source.destroyed) source.destroy(err);
  };
  source.on('error', fail);
  decrypt.on('error', fail);
  slice.on('close', () => {
    if (!source.destroyed) source.destroy();
    if (!decrypt.destroyed) decrypt.destroy();
  });
  source.pipe(decrypt).pipe(slice);
  return { body: slice, span };
}
