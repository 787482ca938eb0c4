// Streaming encrypt/decrypt of format v1 as Node Transform streams (usable with
// stream.pipeline). Holds at most about two segments in memory whatever the file
// size. Takes keys and an injectable random source; never touches a backend,
// the file system or the network.
import { Transform, type TransformCallback } from 'node:stream';
import { davError } from '../errors.js';
import type { MountKey } from './mount-key.js';
import {
  DEFAULT_SEGMENT_EXPONENT,
  FORMAT_VERSION,
  HEADER_BYTES,
  MAGIC,
  NONCE_PREFIX_BYTES,
  SALT_BYTES,
  deriveFileKeys,
  encodeHeader,
  parseHeader,
  type FileHeader,
  type FileKeys,
} from './format.js';
import { MAX_SEGMENTS, plainSizeForCipher, segmentPlainBytes } from './ranges.js';
import { sealSegment, startSegment, type SegmentSealer } from './segment.js';
import { SegmentReader, boundsForCipherSize } from './segment-reader.js';
import { defaultRandom, type RandomSource } from './random.js';

/** Options of createEncryptStream. */
export interface EncryptStreamOptions {
  /** The mount key to encrypt with; its id goes into the header. */
  key: MountKey;
  /** e, segment size S = 2^e (default 16). */
  segmentExponent?: number;
  /** Source of the per-file salt and nonce prefix (default crypto.randomBytes). */
  random?: RandomSource;
  /**
   * The plaintext size when known up front (an upload's Content-Length). Then every segment's last
   * flag is known before its bytes, and ciphertext leaves as the plaintext arrives (a segment may
   * leave in several pieces), instead of a segment at a time: a slow client keeps the backend fed.
   * A body of another size fails the stream (DC_ERR_BAD_REQUEST).
   */
  plainSize?: number;
}

/** The encrypt Transform; `header` holds the 65 header bytes it emits first (e.g. to cache per ETag). */
export interface EncryptStream extends Transform {
  readonly header: Buffer;
}

class EncryptTransform extends Transform implements EncryptStream {
  readonly header: Buffer;
  private readonly keys: FileKeys;
  private readonly noncePrefix: Buffer;
  private readonly segmentBytes: number;
  private readonly pending: Buffer;
  private pendingLength = 0;
  private segmentIndex = 0;
  private headerSent = false;
  /** Known-size mode (opts.plainSize): the segment being sealed, its plaintext bytes still due, bytes seen. */
  private readonly plainSize?: number;
  private sealer?: SegmentSealer;
  private sealerLeft = 0;
  private plainSeen = 0;

  constructor(opts: EncryptStreamOptions) {
    super();
    if (opts.plainSize !== undefined) {
      if (!Number.isSafeInteger(opts.plainSize) || opts.plainSize < 0) throw davError('DC_ERR_BAD_REQUEST', `plain size must be a non-negative integer`);
      this.plainSize = opts.plainSize;
    }
    const random = opts.random ?? defaultRandom;
    const segmentExponent = opts.segmentExponent ?? DEFAULT_SEGMENT_EXPONENT;
    this.segmentBytes = segmentPlainBytes(segmentExponent);
    const salt = random(SALT_BYTES);
    const noncePrefix = random(NONCE_PREFIX_BYTES);
    this.header = encodeHeader({ segmentExponent, keyId: opts.key.id, salt, noncePrefix });
    const parsed = parseHeader(this.header);
    this.noncePrefix = parsed.noncePrefix;
    this.keys = deriveFileKeys(opts.key.key, parsed);
    this.pending = Buffer.allocUnsafe(this.segmentBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk as Uint8Array);
      if (this.plainSize !== undefined) {
        this.streamPieces(chunk, this.plainSize);
        callback();
        return;
      }
      const size = this.segmentBytes;
      let offset = 0;
      while (offset < chunk.length) {
        // A full segment is sealed only once more plaintext is seen: only then is it known not to be last.
        if (this.pendingLength === size) {
          this.seal(this.pending, false);
          this.pendingLength = 0;
        }
        if (this.pendingLength === 0 && chunk.length - offset > size) {
          this.seal(chunk.subarray(offset, offset + size), false);
          offset += size;
          continue;
        }
        const n = Math.min(size - this.pendingLength, chunk.length - offset);
        chunk.copy(this.pending, this.pendingLength, offset, offset + n);
        this.pendingLength += n;
        offset += n;
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.plainSize !== undefined) {
        if (this.plainSeen !== this.plainSize) {
          throw davError('DC_ERR_BAD_REQUEST', `body of ${this.plainSeen} bytes, ${this.plainSize} declared`);
        }
        // An empty file is one empty last segment: its tag only.
        if (this.plainSize === 0) this.streamPieces(Buffer.alloc(0), 0, true);
        callback();
        return;
      }
      this.seal(this.pending.subarray(0, this.pendingLength), true);
      this.pendingLength = 0;
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  /** Known size: encrypts `chunk` at once, closing each segment (its tag) when its last byte went through. */
  private streamPieces(chunk: Buffer, plainSize: number, emptyFile = false): void {
    const S = this.segmentBytes;
    const segments = Math.max(1, Math.ceil(plainSize / S));
    if (this.plainSeen + chunk.length > plainSize) {
      throw davError('DC_ERR_BAD_REQUEST', `body longer than the ${plainSize} bytes declared`);
    }
    const out: Buffer[] = [];
    if (!this.headerSent) {
      out.push(this.header);
      this.headerSent = true;
    }
    let offset = 0;
    while (offset < chunk.length || (emptyFile && !this.sealer && this.segmentIndex === 0)) {
      if (!this.sealer) {
        if (this.segmentIndex >= MAX_SEGMENTS) throw davError('DC_ERR_PAYLOAD_TOO_LARGE', 'file exceeds 2^32 segments');
        const last = this.segmentIndex === segments - 1;
        this.sealer = startSegment(this.keys, this.noncePrefix, this.segmentIndex, last);
        this.sealerLeft = last ? plainSize - this.segmentIndex * S : S;
      }
      const n = Math.min(this.sealerLeft, chunk.length - offset);
      if (n > 0) out.push(this.sealer.update(chunk.subarray(offset, offset + n)));
      offset += n;
      this.plainSeen += n;
      this.sealerLeft -= n;
      if (this.sealerLeft === 0) {
        out.push(this.sealer.final());
        this.sealer = undefined;
        this.segmentIndex += 1;
      }
      if (emptyFile) break;
    }
    if (out.length > 0) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
  }

  private seal(plain: Buffer, last: boolean): void {
    if (this.segmentIndex >= MAX_SEGMENTS) {
      throw davError('DC_ERR_PAYLOAD_TOO_LARGE', 'file exceeds 2^32 segments');
    }
    const { cipherText, tag } = sealSegment(this.keys, this.noncePrefix, this.segmentIndex, last, plain);
    this.segmentIndex += 1;
    // One chunk per segment (the header rides with the first): downstream sockets then write once per
    // segment, not once more per 32-byte tag or 65-byte header.
    const parts = this.headerSent ? [cipherText, tag] : [this.header, cipherText, tag];
    this.headerSent = true;
    this.push(Buffer.concat(parts));
  }
}

/**
 * Plaintext in, `header || C_0 || T_0 || ...` out. Never throws synchronously for valid options;
 * DC_ERR_BAD_HEADER for a bad exponent or key id length.
 */
export function createEncryptStream(opts: EncryptStreamOptions): EncryptStream {
  return new EncryptTransform(opts);
}

/** Options of createDecryptStream. */
export interface DecryptStreamOptions {
  /** Returns the 32-byte mount key for a 16-byte key id, or undefined when it is not held. */
  resolveKey: (keyId: Buffer) => Buffer | undefined | Promise<Buffer | undefined>;
  /** Total ciphertext size when known (e.g. from the backend): fixes every segment's length and last flag
   *  up front, so truncation and trailing data are named exactly. Ignored when not a valid v1 size. */
  cipherSize?: number;
  /** Called once with the parsed header, before any plaintext is emitted. */
  onHeader?: (header: FileHeader) => void;
}

class DecryptTransform extends Transform {
  private headerBuf = Buffer.alloc(HEADER_BYTES);
  private headerLength = 0;
  private reader?: SegmentReader;
  private readonly pushPlain = (plain: Buffer): void => {
    this.push(plain);
  };

  constructor(private readonly opts: DecryptStreamOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk as Uint8Array);
    if (this.reader) {
      this.run(() => this.reader!.write(chunk, this.pushPlain), callback);
      return;
    }
    const n = Math.min(HEADER_BYTES - this.headerLength, chunk.length);
    chunk.copy(this.headerBuf, this.headerLength, 0, n);
    this.headerLength += n;
    const rest = chunk.subarray(n);
    if (this.headerLength < HEADER_BYTES) {
      this.run(() => checkHeaderPrefix(this.headerBuf.subarray(0, this.headerLength)), callback);
      return;
    }
    this.startReader().then(
      () => this.run(() => rest.length > 0 && this.reader!.write(rest, this.pushPlain), callback),
      (err: unknown) => callback(err as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.run(() => {
      if (!this.reader) {
        // Throws NOT_ENCRYPTED / UNSUPPORTED_VERSION / BAD_HEADER for a header cut short.
        parseHeader(this.headerBuf.subarray(0, this.headerLength));
        throw davError('DC_ERR_BAD_HEADER', 'input ended inside the header');
      }
      this.reader.end(this.pushPlain);
    }, callback);
  }

  private async startReader(): Promise<void> {
    const header = parseHeader(this.headerBuf);
    // An impossible total size carries no usable segment layout: classify failures as if unsized.
    const cipherSize = this.opts.cipherSize;
    const bounds =
      cipherSize === undefined || plainSizeForCipher(cipherSize, header.segmentExponent) === undefined
        ? undefined
        : boundsForCipherSize(cipherSize, header.segmentExponent);
    const mountKey = await this.opts.resolveKey(header.keyId);
    if (mountKey === undefined) {
      throw davError('DC_ERR_UNKNOWN_KEY', `no mount key with id ${header.keyId.toString('hex')}`, {
        details: { keyId: header.keyId.toString('hex') },
      });
    }
    this.opts.onHeader?.(header);
    this.reader = new SegmentReader(
      deriveFileKeys(mountKey, header),
      header.noncePrefix,
      header.segmentExponent,
      0,
      bounds,
    );
  }

  private run(step: () => unknown, callback: TransformCallback): void {
    try {
      step();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

// Fails early on a header prefix that can already be judged (magic, version).
function checkHeaderPrefix(prefix: Buffer): void {
  const magicPart = Math.min(prefix.length, MAGIC.length);
  if (prefix.compare(MAGIC, 0, magicPart, 0, magicPart) !== 0 || (prefix.length > 8 && prefix[8] !== FORMAT_VERSION)) {
    parseHeader(prefix);
  }
}

/**
 * Whole encrypted file in, plaintext out. Errors (as stream errors): DC_ERR_NOT_ENCRYPTED,
 * DC_ERR_UNSUPPORTED_VERSION, DC_ERR_BAD_HEADER (input ends inside the header), DC_ERR_UNKNOWN_KEY,
 * DC_ERR_TAMPERED (details.segment), DC_ERR_TRUNCATED, DC_ERR_TRAILING_DATA. No byte of a segment
 * is emitted before its tag verifies.
 */
export function createDecryptStream(opts: DecryptStreamOptions): Transform {
  return new DecryptTransform(opts);
}

/** Options of createSegmentDecryptStream. */
export interface SegmentDecryptStreamOptions {
  header: FileHeader;
  /** The 32-byte mount key named by header.keyId. */
  mountKey: Buffer;
  /** Index of the segment the input starts with (input begins at its cipher offset). */
  firstSegment: number;
  /** Total size of the encrypted file (fixes each segment's length and the last flag). */
  cipherSize: number;
  /** Last segment the input carries (default: the file's last); input must end right after it. */
  lastSegment?: number;
  /** The file keys when the caller already derived them (e.g. FileKeyCache); else derived here. */
  fileKeys?: FileKeys;
}

class SegmentDecryptTransform extends Transform {
  private readonly reader: SegmentReader;
  private readonly pushPlain = (plain: Buffer): void => {
    this.push(plain);
  };

  constructor(opts: SegmentDecryptStreamOptions) {
    super();
    const bounds = boundsForCipherSize(opts.cipherSize, opts.header.segmentExponent, opts.lastSegment);
    this.reader = new SegmentReader(
      opts.fileKeys ?? deriveFileKeys(opts.mountKey, opts.header),
      opts.header.noncePrefix,
      opts.header.segmentExponent,
      opts.firstSegment,
      bounds,
    );
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.reader.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array), this.pushPlain);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.reader.end(this.pushPlain);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * Ciphertext from the offset of `firstSegment` on, plaintext of those segments out (from the start
 * of firstSegment). Throws synchronously DC_ERR_TRUNCATED / DC_ERR_BAD_HEADER when cipherSize is not
 * a valid size; stream errors as createDecryptStream (TRUNCATED when input ends before lastSegment,
 * TRAILING_DATA when more follows it).
 */
export function createSegmentDecryptStream(opts: SegmentDecryptStreamOptions): Transform {
  return new SegmentDecryptTransform(opts);
}

/** Drops the first skipBytes bytes, passes the next `length` bytes, and discards the rest. */
export function createSliceStream(skipBytes: number, length: number): Transform {
  let toSkip = skipBytes;
  let toPass = length;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let part = chunk;
      if (toSkip > 0) {
        const n = Math.min(toSkip, part.length);
        toSkip -= n;
        part = part.subarray(n);
      }
      if (toPass > 0 && part.length > 0) {
        const piece = part.subarray(0, Math.min(toPass, part.length));
        toPass -= piece.length;
        callback(null, piece);
        return;
      }
      callback();
    },
  });
}
