// PUT: streams the request body into backend.write (which keeps the old version
// until the body fully arrived). Chunked bodies and X-Expected-Entity-Length (Finder)
// are checked by counting bytes; a client abort aborts the backend write.
// 201 new / 204 replaced, ETag of the new version; X-OC-Mtime applied when the
// backend can set mtimes. Must not buffer the body.
import { Transform, type TransformCallback } from 'node:stream';
import { parentPath } from '../../backends/paths.js';
import type { EntryInfo, WriteOutcome } from '../../backends/types.js';
import { davError, isDavcryptError } from '../../errors.js';
import { forgetStats, locksOf, statCached, type DavContext } from '../context.js';
import { requireLockTokens } from '../conditions.js';
import { noteStreamedBytes } from '../gc-pacer.js';
import { mountTarget, sendEmpty } from './common.js';
import { applyOcMtime } from './mtime.js';

/** Passes bytes through and fails at the end when their count differs from `expected`. */
class LengthCheck extends Transform {
  received = 0;
  constructor(private readonly expected: number | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.received += chunk.length;
    noteStreamedBytes(chunk.length);
    if (this.expected !== undefined && this.received > this.expected) {
      cb(davError('DC_ERR_BAD_REQUEST', `body longer than the announced ${this.expected} bytes`));
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.expected !== undefined && this.received !== this.expected) {
      cb(davError('DC_ERR_BAD_REQUEST', `body of ${this.received} bytes, announced ${this.expected}`));
      return;
    }
    cb();
  }
}

function expectedLength(ctx: DavContext): { size?: number; expected?: number } {
  const h = ctx.req.headers;
  const parse = (v: string | string[] | undefined): number | undefined => {
    if (typeof v !== 'string' || !/^\d+$/.test(v.trim())) return undefined;
    return Number(v.trim());
  };
  const contentLength = h['transfer-encoding'] ? undefined : parse(h['content-length']);
  const announced = parse(h['x-expected-entity-length']);
  if (contentLength !== undefined) return { size: contentLength, expected: contentLength };
  return { size: announced, expected: announced };
}

export async function handlePut(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx, { allowMountRoot: false });
  if (ctx.url.trailingSlash) throw davError('DC_ERR_CONFLICT', 'PUT to a collection URL');
  // Without locks on the mount and nothing stat'ed yet (no If / If-Match), the backend's own answer
  // says new (201) or replaced (204), missing parent (409) or folder: no stat before the write.
  const quick = mount.backend.capabilities.writeReportsCreated === true && ctx.stats.size === 0 &&
    (await locksOf(ctx, mount)).length === 0;
  let existing: EntryInfo | undefined;
  if (!quick) {
    existing = await statCached(ctx, mount, path);
    if (existing?.type === 'directory') throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'cannot PUT to a collection');
    if (!existing) {
      const parent = await statCached(ctx, mount, parentPath(path));
      if (!parent || parent.type !== 'directory') throw davError('DC_ERR_CONFLICT', 'parent folder missing');
    }
    await requireLockTokens(ctx, mount, path, { membership: !existing });
  }

  const { size, expected } = expectedLength(ctx);
  const counter = new LengthCheck(expected);
  const controller = new AbortController();
  const onAbort = () => controller.abort(davError('DC_ERR_ABORTED', 'client went away during upload'));
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const req = ctx.req;
  const onClose = () => { if (!req.complete) onAbort(); };
  req.once('close', onClose);
  req.once('aborted', onAbort);
  req.once('error', (err) => counter.destroy(err));
  // The counter's own failures reach the backend as a failing body; a backend that fails destroys
  // the counter with its error, which must stay the backend's (507, 503), never a client abort.
  req.pipe(counter);
  const stopIdleWatch = watchUploadIdle(req, ctx.deps.uploadIdleMs, (idleMs) => {
    const err = davError('DC_ERR_REQUEST_TIMEOUT', `upload body idle for ${Math.round(idleMs / 1000)} s`);
    counter.destroy(err);
    controller.abort(err);
  });
  try {
    const contentType = ctx.req.headers['content-type'];
    const outcome: WriteOutcome = {};
    let info: EntryInfo;
    try {
      info = await mount.backend.write(path, counter, {
        size, signal: controller.signal, ...(contentType ? { contentType } : {}),
        // RFC 4918 lets a PUT answer without an ETag: no extra backend request just to learn it (unless a sync client needs it).
        etagOptional: mount.etagAfterWrite !== true, outcome,
      });
    } catch (err) {
      if (quick && isDavcryptError(err, 'DC_ERR_IS_A_COLLECTION')) throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'cannot PUT to a collection');
      throw err;
    }
    if (controller.signal.aborted) throw isDavcryptError(controller.signal.reason) ? controller.signal.reason : davError('DC_ERR_ABORTED', 'client went away during upload');
    forgetStats(ctx);
    const mtimeHeaders = await applyOcMtime(ctx, mount, path);
    const created = quick ? outcome.created !== false : !existing;
    sendEmpty(ctx.res, created ? 201 : 204, { ...(info.etag ? { ETag: info.etag } : {}), ...mtimeHeaders });
  } catch (err) {
    // The counter's own error (length mismatch) is more telling than the abort it caused.
    const counterErr = (counter as unknown as { errored?: unknown }).errored;
    throw isDavcryptError(counterErr) ? counterErr : err;
  } finally {
    stopIdleWatch();
    ctx.signal.removeEventListener('abort', onAbort);
    req.off('close', onClose);
    req.off('aborted', onAbort);
    req.unpipe(counter);
  }
}

/** Fewer body bytes than this within one idle window count as idle (a 1-byte-every-5-s trickle is). */
const UPLOAD_IDLE_MIN_BYTES = 1024;

/**
 * Calls `onIdle` once when the client has sent fewer than UPLOAD_IDLE_MIN_BYTES for `idleMs`
 * while the gateway was ready to read (a paused request is the backend's slowness, not the
 * client's). Returns the stop.
 */
function watchUploadIdle(req: DavContext['req'], idleMs: number | undefined, onIdle: (idleMs: number) => void): () => void {
  if (!idleMs || idleMs <= 0 || req.complete) return () => undefined;
  const socket = req.socket;
  let lastBytes = socket.bytesRead;
  let lastActive = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const progressed = socket.bytesRead - lastBytes >= UPLOAD_IDLE_MIN_BYTES || (req.complete && socket.bytesRead !== lastBytes);
    if (progressed || req.readableFlowing === false || req.readableLength > 0 || (socket.readableLength ?? 0) > 0) {
      lastBytes = socket.bytesRead;
      lastActive = now;
    } else if (now - lastActive >= idleMs) {
      clearInterval(timer);
      if (!req.complete) onIdle(now - lastActive);
    }
  }, Math.max(50, Math.min(1000, Math.floor(idleMs / 4))));
  timer.unref();
  return () => clearInterval(timer);
}
