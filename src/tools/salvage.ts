// Segment-by-segment salvage of a damaged encrypted file: every segment whose tag
// verifies is handed out with its plaintext offset; damaged or missing segments
// are listed as plaintext byte ranges. Never releases bytes of a failing segment.
// No I/O of its own: reads the stream it is given, writes through a callback.
import type { Readable } from 'node:stream';
import {
  HEADER_BYTES,
  TAG_BYTES,
  deriveFileKeys,
  openSegment,
  parseHeader,
  segmentCipherBytes,
  segmentPlainBytes,
  verifySegment,
  type FileHeader,
} from '../crypto/index.js';
import { davError, type ErrorCode } from '../errors.js';

/** A plaintext byte range that could not be recovered. `plainEnd` is inclusive; undefined = up to the unknown end. */
export interface DamageRange {
  firstSegment: number;
  lastSegment: number;
  plainStart: number;
  plainEnd?: number;
  code: ErrorCode;
}

export interface SalvageResult {
  header: FileHeader;
  /** Bytes of the salvaged plaintext as laid out (holes included). */
  plainSize: number;
  segments: number;
  goodSegments: number;
  damage: DamageRange[];
}

export interface SalvageOptions {
  /** The 32-byte mount key named by the header, or undefined when not held. */
  resolveKey: (keyId: Buffer) => Buffer | undefined;
  /** Receives each verified segment's plaintext and its offset in the file. */
  write: (plain: Buffer, plainOffset: number) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * Salvages a whole encrypted file given as a stream from byte 0. Throws only when nothing can be
 * salvaged: DC_ERR_BAD_HEADER / DC_ERR_UNSUPPORTED_VERSION / DC_ERR_NOT_ENCRYPTED (header unusable),
 * DC_ERR_UNKNOWN_KEY; stream and write errors pass through.
 */
export async function salvageEncrypted(body: Readable, opts: SalvageOptions): Promise<SalvageResult> {
  let header: FileHeader | undefined;
  let headerBuf = Buffer.alloc(0);
  let keys: ReturnType<typeof deriveFileKeys> | undefined;
  let full = 0;
  let plainBytes = 0;
  let pending = Buffer.alloc(0);
  let pendingLength = 0;
  let index = 0;
  let good = 0;
  let plainSize = 0;
  const damage: DamageRange[] = [];

  const addDamage = (segment: number, plainStart: number, plainEnd: number | undefined, code: ErrorCode) => {
    const prev = damage[damage.length - 1];
    if (prev && prev.code === code && prev.lastSegment === segment - 1 && prev.plainEnd !== undefined && prev.plainEnd + 1 === plainStart) {
      prev.lastSegment = segment;
      prev.plainEnd = plainEnd;
    } else {
      damage.push({ firstSegment: segment, lastSegment: segment, plainStart, plainEnd, code });
    }
    if (plainEnd !== undefined) plainSize = Math.max(plainSize, plainEnd + 1);
  };

  const emit = async (plain: Buffer, segment: number) => {
    good += 1;
    const offset = segment * plainBytes;
    if (plain.length > 0) await opts.write(plain, offset);
    plainSize = Math.max(plainSize, offset + plain.length);
  };

  const processSegment = async (sealed: Buffer, isFinal: boolean) => {
    const i = index;
    index += 1;
    const plainStart = i * plainBytes;
    if (sealed.length < TAG_BYTES) {
      addDamage(i, plainStart, undefined, 'DC_ERR_TRUNCATED');
      return;
    }
    try {
      await emit(openSegment(keys!, header!.noncePrefix, i, isFinal, sealed), i);
      return;
    } catch {
      // fall through: maybe the file was cut or extended at a segment boundary
    }
    const cipherText = sealed.subarray(0, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    if (verifySegment(keys!, header!.noncePrefix, i, !isFinal, cipherText, tag)) {
      await emit(openSegment(keys!, header!.noncePrefix, i, !isFinal, sealed), i);
      // Authentic but not final: the file ends early; what followed is lost.
      if (isFinal) addDamage(i + 1, (i + 1) * plainBytes, undefined, 'DC_ERR_TRUNCATED');
      return;
    }
    // A failing final segment may also be a cut one: the file's true end is then unknown.
    const plainEnd = plainStart + cipherText.length - 1;
    addDamage(i, plainStart, isFinal || plainEnd < plainStart ? undefined : plainEnd, 'DC_ERR_TAMPERED');
  };

  for await (const raw of body) {
    opts.signal?.throwIfAborted();
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
    if (!header) {
      headerBuf = Buffer.concat([headerBuf, chunk]);
      if (headerBuf.length < HEADER_BYTES) continue;
      header = parseHeader(headerBuf);
      const mountKey = opts.resolveKey(header.keyId);
      if (!mountKey) {
        throw davError('DC_ERR_UNKNOWN_KEY', `no mount key with id ${header.keyId.toString('hex')}`, {
          details: { keyId: header.keyId.toString('hex') },
        });
      }
      keys = deriveFileKeys(mountKey, header);
      plainBytes = segmentPlainBytes(header.segmentExponent);
      full = segmentCipherBytes(header.segmentExponent);
      pending = Buffer.alloc(full);
      chunk = headerBuf.subarray(HEADER_BYTES);
    }
    let offset = 0;
    while (offset < chunk.length) {
      // A full segment is judged non-final only once a further byte is seen.
      if (pendingLength === full) {
        await processSegment(pending, false);
        pendingLength = 0;
      }
      const n = Math.min(full - pendingLength, chunk.length - offset);
      chunk.copy(pending, pendingLength, offset, offset + n);
      pendingLength += n;
      offset += n;
    }
  }
  if (!header) {
    parseHeader(headerBuf); // throws NOT_ENCRYPTED / UNSUPPORTED_VERSION / BAD_HEADER
    throw davError('DC_ERR_BAD_HEADER', 'the file ends inside its header');
  }
  if (pendingLength > 0) await processSegment(Buffer.from(pending.subarray(0, pendingLength)), true);
  else if (index === 0) addDamage(0, 0, undefined, 'DC_ERR_TRUNCATED');
  return { header, plainSize, segments: index, goodSegments: good, damage };
}

/** "bytes 4096-8191 (segment 1): DC_ERR_TAMPERED" style lines, one per range. */
export function formatDamage(damage: DamageRange[]): string[] {
  return damage.map((d) => {
    const bytes = d.plainEnd === undefined ? `bytes ${d.plainStart}-(end unknown)` : `bytes ${d.plainStart}-${d.plainEnd}`;
    const segs = d.firstSegment === d.lastSegment ? `segment ${d.firstSegment}` : `segments ${d.firstSegment}-${d.lastSegment}`;
    return `${bytes} (${segs}): ${d.code}`;
  });
}
