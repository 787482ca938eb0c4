// Shared helpers for the crypto unit tests: deterministic plaintext, a queued
// random source for known-answer tests, and running a Transform over input fed
// whole, in chunks, or byte by byte.
import { createHash } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

/** The vectors' plaintext generator: byte i = i mod 251. */
export function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A RandomSource that hands out the given buffers in order and checks each requested length. */
export function queuedRandom(...buffers: Buffer[]): (n: number) => Buffer {
  const queue = [...buffers];
  return (n: number) => {
    const next = queue.shift();
    if (!next) throw new Error(`queuedRandom: no buffer left for a request of ${n} bytes`);
    if (next.length !== n) throw new Error(`queuedRandom: asked ${n} bytes, next buffer has ${next.length}`);
    return Buffer.from(next);
  };
}

export type FeedMode = 'whole' | 'chunks' | 'bytes';
export const FEED_MODES: FeedMode[] = ['whole', 'chunks', 'bytes'];

/** Splits input per mode: one chunk, odd-sized chunks (7, 1000, 4133, ...), or 1-byte chunks. */
export function split(input: Buffer, mode: FeedMode): Buffer[] {
  if (mode === 'whole') return [input];
  const size = mode === 'bytes' ? () => 1 : (i: number) => [7, 1000, 4133, 65, 1][i % 5]!;
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < input.length; i++) {
    const n = size(i);
    out.push(input.subarray(off, off + n));
    off += n;
  }
  return out;
}

export interface RunResult {
  output: Buffer;
  error?: { code?: string; details?: Record<string, unknown> } & Error;
}

/** Feeds `input` through `transform` in the given mode; returns everything emitted and any error. */
export async function run(transform: Transform, input: Buffer, mode: FeedMode): Promise<RunResult> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  try {
    await pipeline(Readable.from(split(input, mode)), transform, sink);
    return { output: Buffer.concat(chunks) };
  } catch (err) {
    return { output: Buffer.concat(chunks), error: err as RunResult['error'] };
  }
}
