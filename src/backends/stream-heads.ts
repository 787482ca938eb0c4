// Stream helpers of the encrypting decorator: read the first bytes of a stored body (to
// look for the magic and the header), hand the rest of it on to a decrypt or slice stream,
// and wait for a body's first verified bytes. Public stream API only (no `_readableState`).
// No crypto, no backend calls.
import type { Readable } from 'node:stream';
import { davError } from '../errors.js';
import type { ReadResult } from './types.js';

/** Reads at most `limit` bytes, then releases the stream. */
export async function readUpTo(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      parts.push(b);
      length += b.length;
      if (length >= limit) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, limit);
}

/**
 * Reads at least `n` bytes (fewer only at end of stream) without a flowing consumer, so the stream
 * can be piped or unshifted afterwards. `ended`: the stream said it has nothing more (head is all
 * of it). A stream whose end is buffered but not yet announced reports `ended: false`; Node has no
 * public way to see that earlier, and nothing is lost: pipe() ends its target when it gets there.
 */
export function readHead(stream: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const finish = (ended: boolean) => {
      cleanup();
      resolve({ head: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length), ended });
    };
    function onReadable(): void {
      let chunk: Buffer | null;
      while (length < n && (chunk = stream.read() as Buffer | null) !== null) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        parts.push(b);
        length += b.length;
      }
      if (length >= n) finish(stream.readableEnded);
    }
    function onEnd(): void {
      finish(true);
    }
    function onError(err: Error): void {
      cleanup();
      reject(err);
    }
    function onClose(): void {
      cleanup();
      reject(davError('DC_ERR_ABORTED', 'stream closed before its first bytes'));
    }
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * Hands `rest` (what readHead read beyond what the caller consumed) and then the remainder of
 * `source` to `target`. Errors of the source destroy the target; closing the target releases the
 * source. Piped at once: the source must not start flowing before the target's reader reads.
 */
export function continueAfterHead(source: Readable, rest: Buffer, ended: boolean, target: NodeJS.WritableStream & Readable): void {
  if (ended) {
    source.destroy();
    target.end(rest);
    return;
  }
  if (rest.length > 0) target.write(rest);
  source.on('error', (err) => target.destroy(err));
  target.on('close', () => source.destroy());
  source.pipe(target);
}

/**
 * Resolves with `result` once its body has verified bytes ready (or ended), so a failing first
 * segment rejects here, before any answer is sent, where the caller can still retry.
 */
export function firstVerified(result: ReadResult): Promise<ReadResult> {
  const body = result.body;
  if (body.readableLength > 0 || body.readableEnded) return Promise.resolve(result);
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      body.off('readable', onReadable);
      body.off('error', onError);
      body.off('close', onClose);
      if (err) {
        body.destroy();
        reject(err);
      } else resolve(result);
    };
    const onReadable = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(body.errored ?? davError('DC_ERR_ABORTED', 'read closed before its first bytes'));
    body.on('readable', onReadable);
    body.on('error', onError);
    body.on('close', onClose);
  });
}
