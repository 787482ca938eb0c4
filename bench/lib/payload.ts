// Deterministic test data that costs the client almost nothing to send: a pool of
// 16 random blocks, and every 1 MiB chunk k is a 16-byte unique prefix (k and a
// run salt) followed by pool block k mod 16, so no two MiB are equal and nothing
// on the path can compress it. Any byte range can be regenerated to check range
// GETs; the sha256 of a body is computed once per size, outside timed sections.
import { createHash, randomBytes } from 'node:crypto';

export const CHUNK_BYTES = 1024 * 1024;
const PREFIX_BYTES = 16;
const POOL_BLOCKS = 16;

export class Payload {
  private readonly pool: Buffer[];
  private readonly salt: Buffer;
  private readonly hashes = new Map<number, string>();

  constructor() {
    this.pool = Array.from({ length: POOL_BLOCKS }, () => randomBytes(CHUNK_BYTES - PREFIX_BYTES));
    this.salt = randomBytes(8);
  }

  private prefix(chunkIndex: number): Buffer {
    const p = Buffer.allocUnsafe(PREFIX_BYTES);
    p.writeUInt32BE(chunkIndex >>> 0, 0);
    p.writeUInt32BE(~chunkIndex >>> 0, 4);
    this.salt.copy(p, 8);
    return p;
  }

  /** The parts of chunk `chunkIndex` (never mutated; safe to hand to a socket). */
  private parts(chunkIndex: number): [Buffer, Buffer] {
    return [this.prefix(chunkIndex), this.pool[chunkIndex % POOL_BLOCKS]!];
  }

  /** Body of `plainSize` bytes as an async iterable of buffers; allocates only 16 bytes per MiB. */
  async *stream(plainSize: number): AsyncGenerator<Buffer> {
    let left = plainSize;
    for (let index = 0; left > 0; index++) {
      for (const part of this.parts(index)) {
        if (left <= 0) break;
        const piece = part.length <= left ? part : part.subarray(0, left);
        left -= piece.length;
        yield piece;
      }
    }
  }

  /** The bytes at [offset, offset+length) of any body produced by `stream`. */
  bytesAt(offset: number, length: number): Buffer {
    const out: Buffer[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const index = Math.floor(pos / CHUNK_BYTES);
      const inChunk = pos - index * CHUNK_BYTES;
      const take = Math.min(CHUNK_BYTES - inChunk, end - pos);
      out.push(Buffer.concat(this.parts(index)).subarray(inChunk, inChunk + take));
      pos += take;
    }
    return Buffer.concat(out);
  }

  /** sha256 hex of the body of `plainSize` bytes (memoized per size). */
  async sha256(plainSize: number): Promise<string> {
    const known = this.hashes.get(plainSize);
    if (known) return known;
    const h = createHash('sha256');
    for await (const c of this.stream(plainSize)) h.update(c);
    const hex = h.digest('hex');
    this.hashes.set(plainSize, hex);
    return hex;
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** How fast this process hashes with sha256 (MB/s over 256 MiB): the ceiling of any verified GET. */
export function clientSha256MBs(): number {
  const block = randomBytes(CHUNK_BYTES);
  const h = createHash('sha256');
  const t0 = performance.now();
  for (let i = 0; i < 256; i++) h.update(block);
  h.digest();
  return (256 * CHUNK_BYTES) / 1e6 / ((performance.now() - t0) / 1000);
}
