// Cuts a ciphertext byte stream (after the header) into segments and opens each
// one, deciding the last flag and classifying failures (tampered, truncated,
// trailing data). Used by the decrypt Transforms in stream.ts; pure and
// synchronous, holds at most one segment of input, never does I/O.
import { davError } from '../errors.js';
import { TAG_BYTES, type FileKeys } from './format.js';
import { cipherOffsetOfSegment, plainSizeForCipher, segmentCipherBytes } from './ranges.js';
import { openSegment, verifySegment } from './segment.js';

/** Where the input must end, when the total ciphertext size is known. */
export interface SegmentBounds {
  /** Segments in the whole file (n). */
  totalSegments: number;
  /** Ciphertext bytes (tag included) of segment n-1. */
  finalSegmentCipherBytes: number;
  /** Last segment index this input carries (n-1 for a read to the end; less for a range). */
  stopSegment: number;
}

/**
 * Computes SegmentBounds from a total file size. Throws DC_ERR_BAD_HEADER when the size cannot
 * hold a header, DC_ERR_TRUNCATED when it is not a valid v1 ciphertext size (the final segment
 * would be shorter than its tag), DC_ERR_BAD_REQUEST when stopSegment is beyond the file.
 */
export function boundsForCipherSize(cipherSize: number, segmentExponent: number, stopSegment?: number): SegmentBounds {
  if (!Number.isSafeInteger(cipherSize) || cipherSize < 0) {
    throw davError('DC_ERR_BAD_REQUEST', `cipher size must be a non-negative integer, got ${cipherSize}`);
  }
  if (cipherSize < cipherOffsetOfSegment(0, segmentExponent)) {
    throw davError('DC_ERR_BAD_HEADER', `a ${cipherSize}-byte file cannot hold a header`);
  }
  const plainSize = plainSizeForCipher(cipherSize, segmentExponent);
  if (plainSize === undefined) {
    throw davError('DC_ERR_TRUNCATED', `${cipherSize} bytes is not a whole number of segments`, {
      details: { cipherSize },
    });
  }
  const full = segmentCipherBytes(segmentExponent);
  const totalSegments = Math.max(1, Math.ceil((cipherSize - cipherOffsetOfSegment(0, segmentExponent)) / full));
  const finalSegmentCipherBytes = cipherSize - cipherOffsetOfSegment(totalSegments - 1, segmentExponent);
  const stop = stopSegment ?? totalSegments - 1;
  if (!Number.isInteger(stop) || stop < 0 || stop >= totalSegments) {
    throw davError('DC_ERR_BAD_REQUEST', `segment ${stop} is beyond the file's ${totalSegments} segments`);
  }
  return { totalSegments, finalSegmentCipherBytes, stopSegment: stop };
}

type Emit = (plain: Buffer) => void;

export class SegmentReader {
  private readonly fullBytes: number;
  /** Allocated on first need: input that arrives segment-aligned (most small files) never copies. */
  private pendingBuf?: Buffer;
  private pendingLength = 0;
  private segmentIndex: number;
  private done = false;

  constructor(
    private readonly keys: FileKeys,
    private readonly noncePrefix: Buffer,
    segmentExponent: number,
    firstSegment: number,
    private readonly bounds?: SegmentBounds,
  ) {
    this.fullBytes = segmentCipherBytes(segmentExponent);
    this.segmentIndex = firstSegment;
    if (bounds && firstSegment > bounds.stopSegment) {
      throw davError('DC_ERR_BAD_REQUEST', `first segment ${firstSegment} is after stop segment ${bounds.stopSegment}`);
    }
  }

  private get pending(): Buffer {
    return (this.pendingBuf ??= Buffer.allocUnsafe(this.fullBytes));
  }

  /** Feeds ciphertext; emits verified plaintext per segment. Throws the DC_ERR of the first bad segment. */
  write(chunk: Buffer, emit: Emit): void {
    if (this.bounds) this.writeBounded(chunk, emit);
    else this.writeUnbounded(chunk, emit);
  }

  /** Input ended: opens what is left (unbounded mode) or checks nothing is missing (bounded mode). */
  end(emit: Emit): void {
    if (this.bounds) {
      if (!this.done) {
        throw davError('DC_ERR_TRUNCATED', `input ended inside or before segment ${this.segmentIndex}`, {
          details: { segment: this.segmentIndex },
        });
      }
      return;
    }
    const index = this.segmentIndex;
    if (this.pendingLength < TAG_BYTES) {
      throw davError('DC_ERR_TRUNCATED', `input ended before the final segment (at segment ${index})`, {
        details: { segment: index },
      });
    }
    this.openOne(this.pending.subarray(0, this.pendingLength), true, emit);
    this.pendingLength = 0;
  }

  // Total size unknown: a full segment is opened as non-final only once a further byte is seen.
  private writeUnbounded(chunk: Buffer, emit: Emit): void {
    const full = this.fullBytes;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.pendingLength === full) {
        this.openOne(this.pending, false, emit);
        this.pendingLength = 0;
      }
      if (this.pendingLength === 0 && chunk.length - offset > full) {
        // Zero-copy: the segment is complete in the chunk and more bytes follow it.
        this.openOne(chunk.subarray(offset, offset + full), false, emit);
        offset += full;
        continue;
      }
      const n = Math.min(full - this.pendingLength, chunk.length - offset);
      chunk.copy(this.pending, this.pendingLength, offset, offset + n);
      this.pendingLength += n;
      offset += n;
    }
  }

  // Total size known: every segment length and last flag is fixed in advance.
  private writeBounded(chunk: Buffer, emit: Emit): void {
    const bounds = this.bounds!;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.done) {
        throw davError('DC_ERR_TRAILING_DATA', `data follows segment ${bounds.stopSegment}`, {
          details: { segment: bounds.stopSegment },
        });
      }
      const last = this.segmentIndex === bounds.totalSegments - 1;
      const need = last ? bounds.finalSegmentCipherBytes : this.fullBytes;
      if (this.pendingLength === 0 && chunk.length - offset >= need) {
        this.openOne(chunk.subarray(offset, offset + need), last, emit);
        offset += need;
        continue;
      }
      const n = Math.min(need - this.pendingLength, chunk.length - offset);
      chunk.copy(this.pending, this.pendingLength, offset, offset + n);
      this.pendingLength += n;
      offset += n;
      if (this.pendingLength === need) {
        this.pendingLength = 0;
        this.openOne(this.pending.subarray(0, need), last, emit);
      }
    }
  }

  private openOne(sealed: Buffer, last: boolean, emit: Emit): void {
    const index = this.segmentIndex;
    if (last && index > 0 && sealed.length === TAG_BYTES) {
      // Writers never make an empty final segment after a full one; the size arithmetic forbids it.
      throw davError('DC_ERR_TAMPERED', `segment ${index} is an empty final segment`, { details: { segment: index } });
    }
    let plain: Buffer;
    try {
      plain = openSegment(this.keys, this.noncePrefix, index, last, sealed);
    } catch (err) {
      throw this.classifyFailure(sealed, index, last, err);
    }
    this.segmentIndex = index + 1;
    if (this.bounds && index === this.bounds.stopSegment) this.done = true;
    if (plain.length > 0) emit(plain);
  }

  // A tag that verifies with the other last flag means the stream was cut or extended at a
  // segment boundary; anything else is tampering.
  private classifyFailure(sealed: Buffer, index: number, last: boolean, err: unknown): unknown {
    if (sealed.length < TAG_BYTES) return err;
    const cipherText = sealed.subarray(0, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    if (!verifySegment(this.keys, this.noncePrefix, index, !last, cipherText, tag)) return err;
    return last
      ? davError('DC_ERR_TRUNCATED', `segment ${index} is not the final segment: the file ends early`, {
          details: { segment: index },
        })
      : davError('DC_ERR_TRAILING_DATA', `segment ${index} is the final segment but data follows it`, {
          details: { segment: index },
        });
  }
}
