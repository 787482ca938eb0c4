// Small stream helpers for the tools: peek at the first bytes of a body without
// losing them, a sink that discards, a pass-through that hashes and counts, and
// a byte counter for progress. No I/O of their own.
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';

/**
 * Reads at least `n` bytes (fewer only if the body ends) and returns them plus a stream that
 * yields the whole body again from byte 0. Destroying the returned stream destroys `body`.
 */
export async function peekHead(body: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  const stream = Readable.from(replay(), { objectMode: false });
  // A generator destroyed before its first read never runs its finally (so never returns the
  // iterator): release the body here too, or a local file handle stays open until GC.
  stream.once('close', () => {
    if (!body.destroyed) body.destroy();
  });
  return { head, stream };
}

/** A Writable that drops everything (verify decrypts into it). */
export function nullSink(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

/** Pass-through that feeds a SHA-256 and counts bytes; read `digest()` and `bytes` after the pipeline. */
export interface HashingStream extends Transform {
  readonly bytes: number;
  digest(): string;
}

export function hashingStream(onBytes?: (n: number) => void): HashingStream {
  const hash: Hash = createHash('sha256');
  let bytes = 0;
  let hex: string | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  }) as HashingStream;
  Object.defineProperty(t, 'bytes', { get: () => bytes });
  t.digest = () => (hex ??= hash.digest('hex'));
  return t;
}

/** Pass-through that reports each chunk's size (progress). */
export function countingStream(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}
