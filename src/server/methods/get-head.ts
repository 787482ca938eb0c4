// GET and HEAD: single byte ranges passed to backend.read (the backend reads only
// what is needed), 206/416 with correct Content-Range, validators and If-Range,
// streaming with backpressure; a failure after the headers destroys the response.
// HEAD never reads the body. Must not buffer bodies.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { EntryInfo } from '../../backends/types.js';
import { davError } from '../../errors.js';
import { mountChildNames, statCached, type DavContext } from '../context.js';
import { encodeHref, RESERVED_SEGMENT } from '../request-paths.js';
import { fileSafetyHeaders, PAGE_SAFETY_HEADERS } from '../safe-content.js';
import { escapeXml } from '../xml.js';
import { headerOf, httpDate, mountTarget, sendEmpty } from './common.js';

type RangeAsk = { start: number; end: number } | 'unsatisfiable' | undefined;

/** Parses `Range` against a known size: one range, or undefined (ignore: absent, invalid, multi-range). */
export function parseRange(header: string | undefined, size: number): RangeAsk {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return undefined;
  const specs = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return undefined;
  const r = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!r || (r[1] === '' && r[2] === '')) return undefined;
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === '' ? size - 1 : Number(r[2]);
  if (r[2] !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** `bytes=a-b` or `bytes=a-`: a range the backend can clamp without us knowing the size first. */
function simpleRange(header: string): { start: number; end?: number } | undefined {
  const m = /^\s*bytes\s*=\s*(\d+)-(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? undefined : Number(m[2]);
  if (!Number.isSafeInteger(start) || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) return undefined;
  return { start, end };
}

/** Resolves with the first chunk (null at once-empty end) without putting the stream in flowing mode. */
function firstChunk(body: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    function onReadable(): void {
      const chunk = body.read() as Buffer | null;
      if (chunk !== null) {
        cleanup();
        resolve(chunk);
      }
    }
    function onEnd(): void {
      cleanup();
      resolve(null);
    }
    function onError(err: Error): void {
      cleanup();
      reject(err);
    }
    body.on('readable', onReadable);
    body.on('end', onEnd);
    body.on('error', onError);
  });
}

/** Writes `first`, then pipes the rest with backpressure; rejects when either side fails or the client leaves. */
function sendRest(body: Readable, res: ServerResponse, first: Buffer | null, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: unknown) => {
      if (settled) return;
      settled = true;
      body.off('error', done);
      res.off('finish', onFinish);
      res.off('close', onClose);
      res.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onFinish = () => done();
    const onClose = () => { if (!res.writableFinished) done(signal.reason ?? davError('DC_ERR_ABORTED', 'response closed early')); };
    const onAbort = () => done(signal.reason);
    body.on('error', done);
    res.on('finish', onFinish);
    res.on('close', onClose);
    res.on('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) return onAbort();
    if (first === null) {
      res.end();
      return;
    }
    if (body.readableEnded || (body.readableLength === 0 && (body as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended)) {
      // Everything arrived in one chunk (small files): one write with the headers, no pipe.
      res.end(first);
      body.resume(); // lets it emit 'end' and release what it holds
      return;
    }
    res.write(first);
    body.pipe(res);
  });
}

function ifRangeHolds(header: string | undefined, info: EntryInfo): boolean {
  if (header === undefined) return true;
  const v = header.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !!info.etag && !v.startsWith('W/') && v === info.etag;
  const ms = Date.parse(v);
  return !Number.isNaN(ms) && !!info.lastModified && Math.floor(info.lastModified.getTime() / 1000) * 1000 === ms;
}

function entityHeaders(ctx: DavContext, info: EntryInfo): Record<string, string | number> {
  const h: Record<string, string | number> = {
    DAV: '1, 2',
    'MS-Author-Via': 'DAV',
    // Type, nosniff, CSP and (for types a browser would run) attachment: see safe-content.ts.
    ...fileSafetyHeaders(info.contentType, ctx.url.path.slice(ctx.url.path.lastIndexOf('/') + 1)),
    'Accept-Ranges': 'bytes',
  };
  if (info.etag) h.ETag = info.etag;
  if (info.lastModified) h['Last-Modified'] = httpDate(info.lastModified);
  return h;
}

/** A tiny HTML index for browsers that GET a collection. */
async function sendIndex(ctx: DavContext, names: string[]): Promise<void> {
  const base = ctx.url.path === '/' ? '/' : ctx.url.path + '/';
  const items = names.sort().map((n) => `<li><a href="${escapeXml(encodeHref(base + n, n.endsWith('/')))}">${escapeXml(n)}</a></li>`);
  const html = Buffer.from(`<!doctype html><meta charset="utf-8"><title>${escapeXml(ctx.url.path)}</title><ul>${items.join('')}</ul>\n`);
  ctx.res.statusCode = 200;
  ctx.res.setHeader('Content-Type', 'text/html; charset=utf-8');
  for (const [k, v] of Object.entries(PAGE_SAFETY_HEADERS)) ctx.res.setHeader(k, v);
  ctx.res.setHeader('Content-Length', html.length);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : html);
}

async function collectionIndex(ctx: DavContext): Promise<void> {
  if (ctx.target.kind === 'virtual') return sendIndex(ctx, ctx.target.children.map((c) => c + '/'));
  const { mount, path } = mountTarget(ctx);
  const entries = await mount.backend.list(path, { signal: ctx.signal });
  const names = entries.filter((e) => e.name.toLowerCase() !== RESERVED_SEGMENT).map((e) => (e.type === 'directory' ? e.name + '/' : e.name));
  for (const m of mountChildNames(ctx.mounts, ctx.url.path, mount)) names.push(m + '/');
  return sendIndex(ctx, names);
}

export async function handleGetHead(ctx: DavContext): Promise<void> {
  if (ctx.target.kind === 'virtual') return collectionIndex(ctx);
  const { mount, path } = mountTarget(ctx);
  const res = ctx.res;
  const rangeHeader = headerOf(ctx, 'range');
  let info: EntryInfo | undefined;
  // A plain `bytes=a-b` GET goes to the backend at once (one request there): it clamps the range and
  // reports the size, or says 416 / not found / folder. Anything subtler asks stat first.
  const direct = ctx.method === 'GET' && rangeHeader !== undefined && ctx.stats.size === 0 && headerOf(ctx, 'if-range') === undefined
    ? simpleRange(rangeHeader) : undefined;
  let ask: { start: number; end?: number } | undefined = direct;
  if (!direct && (ctx.method === 'HEAD' || rangeHeader !== undefined || ctx.stats.size > 0)) {
    info = await statCached(ctx, mount, path);
    if (!info) throw davError('DC_ERR_NOT_FOUND', 'not found');
    if (info.type === 'directory') return collectionIndex(ctx);
    if (info.integrityError) throw info.integrityError; // what GET would refuse, HEAD refuses too
  }
  if (ctx.method === 'HEAD') {
    sendEmpty(res, 200, { ...entityHeaders(ctx, info!), 'Content-Length': info!.size });
    return;
  }
  if (info && rangeHeader !== undefined && ifRangeHolds(headerOf(ctx, 'if-range'), info)) {
    const parsed = parseRange(rangeHeader, info.size);
    if (parsed === 'unsatisfiable') {
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', 'range not satisfiable', { details: { size: info.size } });
    }
    ask = parsed;
  }
  let result;
  try {
    result = await mount.backend.read(path, { range: ask, signal: ctx.signal });
  } catch (err) {
    if ((err as { code?: string }).code === 'DC_ERR_IS_A_COLLECTION') return collectionIndex(ctx);
    throw err;
  }
  const body: Readable = result.body;
  if (direct && !result.range && result.info.size === 0) {
    // The backend ignored the range only because there is nothing to cut from (an empty file).
    body.destroy();
    throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', 'range not satisfiable', { details: { size: result.info.size } });
  }
  // Pull the first chunk before committing to a status: a tampered first segment still gets a 502.
  let first: Buffer | null;
  try {
    first = await firstChunk(body);
  } catch (err) {
    body.destroy();
    throw err;
  }
  const whole = result.info;
  const headers = entityHeaders(ctx, whole);
  let status = 200;
  if (ask && result.range) {
    status = 206;
    headers['Content-Range'] = `bytes ${result.range.start}-${result.range.end}/${whole.size}`;
    headers['Content-Length'] = result.range.end - result.range.start + 1;
  } else {
    headers['Content-Length'] = whole.size;
  }
  // One writeHead with every header: Node's fast path when nothing was set with setHeader before.
  res.writeHead(status, headers);
  try {
    await sendRest(body, res, first, ctx.signal);
  } catch (err) {
    body.destroy();
    // Never end cleanly with short bytes: the socket goes down with the response.
    res.destroy();
    throw err;
  }
}
