// Small helpers for the backend conformance suite: bodies from strings and
// generators, draining a Readable, and asserting a DavcryptError code.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { isDavcryptError, type ErrorCode } from '../../src/errors.js';

export function bodyOf(data: string | Buffer): Readable {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  // Split into chunks so backends see a real stream, not one buffer.
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 256 * 1024) chunks.push(buf.subarray(i, i + 256 * 1024));
  return Readable.from(chunks);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(parts);
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function randomBody(bytes: number): Buffer {
  return randomBytes(bytes);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A body that yields `chunks` pieces of `chunkBytes`, calling `onChunk(i)` before each (e.g. to abort). */
export function slowBody(chunks: number, chunkBytes: number, onChunk?: (i: number) => void, failAt?: number): Readable {
  return Readable.from((async function* () {
    for (let i = 0; i < chunks; i++) {
      onChunk?.(i);
      if (failAt === i) throw new Error('body stream failed on purpose');
      yield Buffer.alloc(chunkBytes, 0x41 + (i % 26));
      await sleep(2);
    }
  })());
}

/** Awaits `p` and asserts it rejects with a DavcryptError carrying `code`. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  if (!isDavcryptError(caught, code)) {
    const got = isDavcryptError(caught) ? caught.code : String(caught);
    expect.fail(`expected ${code}, got ${got}: ${(caught as Error)?.message}`);
  }
}
