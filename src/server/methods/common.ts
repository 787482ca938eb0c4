// Helpers shared by the method handlers: answering with empty/XML/text bodies,
// requiring a target inside a mount, reading Depth and the XML request body.
// No method logic here.
import type { ServerResponse } from 'node:http';
import { davError } from '../../errors.js';
import type { ResolvedMount } from '../../users/types.js';
import type { DavContext } from '../context.js';
import { parseXml, readBody, XML_DECL } from '../xml.js';
import type { Document } from '@xmldom/xmldom';

export const ALLOWED_METHODS = 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK';

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (status !== 204 && status !== 304 && !res.hasHeader('content-length')) res.setHeader('Content-Length', 0);
  res.end();
}

export function sendXml(res: ServerResponse, status: number, xmlBody: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(XML_DECL + xmlBody, 'utf8');
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/xml; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/**
 * Builds a large XML answer as Buffers of about CHUNK_CHARS characters: no single giant string to
 * flatten and encode at the end (a 1000-entry listing is about 500 KB).
 */
export class XmlChunks {
  static readonly CHUNK_CHARS = 32 * 1024;
  private readonly buffers: Buffer[];
  private pending = '';

  /** `withDecl`: start with the XML declaration (false for a part appended to another XmlChunks). */
  constructor(withDecl = true) {
    this.buffers = withDecl ? [Buffer.from(XML_DECL, 'utf8')] : [];
  }

  /** Appends the finished buffers of another part. */
  append(part: XmlChunks): void {
    this.flush();
    this.buffers.push(...part.finish());
  }

  add(xml: string): void {
    this.pending += xml;
    if (this.pending.length >= XmlChunks.CHUNK_CHARS) this.flush();
  }

  finish(): Buffer[] {
    this.flush();
    return this.buffers;
  }

  private flush(): void {
    if (this.pending === '') return;
    this.buffers.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
  }
}

/** Sends XmlChunks' buffers with a Content-Length, in one corked write. */
export function sendXmlChunks(res: ServerResponse, status: number, chunks: Buffer[]): void {
  let length = 0;
  for (const c of chunks) length += c.length;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/xml; charset=utf-8');
  res.setHeader('Content-Length', length);
  res.cork();
  for (let i = 0; i < chunks.length - 1; i++) res.write(chunks[i]);
  res.end(chunks[chunks.length - 1]);
}

/** Target inside a mount, else DC_ERR_NOT_FOUND (nothing there) or DC_ERR_FORBIDDEN (virtual folder / mount point). */
export function mountTarget(ctx: DavContext, opts: { allowMountRoot?: boolean } = {}): { mount: ResolvedMount; path: string } {
  const t = ctx.target;
  if (t.kind === 'none') throw davError('DC_ERR_NOT_FOUND', 'not found');
  if (t.kind === 'virtual') throw davError('DC_ERR_FORBIDDEN', 'not allowed on a folder that holds mount points');
  if (t.path === '/' && opts.allowMountRoot === false) throw davError('DC_ERR_FORBIDDEN', 'not allowed on a mount root');
  return { mount: t.mount, path: t.path };
}

/** Depth header: '0', '1', 'infinity' or the default when absent. Throws DC_ERR_BAD_REQUEST. */
export function depthOf(ctx: DavContext, fallback: '0' | '1' | 'infinity'): '0' | '1' | 'infinity' {
  const raw = headerOf(ctx, 'depth');
  if (raw === undefined) return fallback;
  const v = raw.trim().toLowerCase();
  if (v === '0' || v === '1' || v === 'infinity') return v;
  throw davError('DC_ERR_BAD_REQUEST', `bad Depth header: ${raw.slice(0, 20)}`);
}

/** The XML body, capped; undefined when the request has none. */
export async function xmlBodyOf(ctx: DavContext): Promise<Document | undefined> {
  const body = await readBody(ctx.req, ctx.deps.maxXmlBodyBytes);
  if (body.length === 0 || body.toString('utf8').trim() === '') return undefined;
  return parseXml(body);
}

/** Drains and discards a body (methods that take none), capped like XML bodies. */
export async function discardBody(ctx: DavContext): Promise<number> {
  const body = await readBody(ctx.req, ctx.deps.maxXmlBodyBytes);
  return body.length;
}

/** One request header as a single string (first value when repeated). */
export function headerOf(ctx: DavContext, name: string): string | undefined {
  const v = ctx.req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function httpDate(d: Date): string {
  return (d.getTime() < 0 ? new Date(0) : d).toUTCString();
}
