// HTTP plumbing of the WebDAV backend: the shared undici Agent (bounded, keep-alive,
// explicit timeouts, optional CA), Basic auth, and the mapping of transport failures
// and HTTP statuses to davcrypt error codes. Messages name the backend and the
// operation; credentials and Authorization headers never leave this module.
import { PassThrough, type Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { davError, isDavcryptError, type DavcryptError, type ErrorCode } from '../errors.js';

export interface WebdavTimeouts {
  /** TCP + TLS connect (default 10 s). */
  connectMs?: number;
  /** Until the response headers arrive, counted from the end of the request body (default 60 s). */
  headersMs?: number;
  /** Longest silence between two body chunks (default 60 s). */
  bodyMs?: number;
  /** Idle keep-alive sockets are closed after this (default 30 s). */
  keepAliveMs?: number;
}

/** Defaults of WebdavTimeouts (config: timeouts.backend*Seconds). */
export const DEFAULT_BACKEND_TIMEOUTS = { connectMs: 10_000, headersMs: 60_000, bodyMs: 60_000 } as const;

export interface AgentOptions {
  timeouts?: WebdavTimeouts;
  maxConnections?: number;
  /** Extra trusted CA certificates (PEM) for https backends. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** One Agent per backend: bounded connections, keep-alive, explicit timeouts. */
export function createWebdavAgent(opts: AgentOptions = {}): Agent {
  const t = opts.timeouts ?? {};
  return new Agent({
    connections: opts.maxConnections ?? 64,
    keepAliveTimeout: t.keepAliveMs ?? 30_000,
    keepAliveMaxTimeout: Math.max(t.keepAliveMs ?? 30_000, 60_000),
    headersTimeout: t.headersMs ?? DEFAULT_BACKEND_TIMEOUTS.headersMs,
    bodyTimeout: t.bodyMs ?? DEFAULT_BACKEND_TIMEOUTS.bodyMs,
    connect: { timeout: t.connectMs ?? DEFAULT_BACKEND_TIMEOUTS.connectMs, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) },
  });
}

/** 'Basic …' for a user and password (UTF-8, as RFC 7617 charset=UTF-8). */
export function basicAuthorization(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The backend was reached but went silent: 504 (DC_ERR_BACKEND_TIMEOUT), not "unreachable". */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

const UNAVAILABLE_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE',
  'ETIMEDOUT', 'EAI_AGAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

const UNTRUSTED_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * What to change when a connection fails for a reason the config can fix: a certificate from a
 * private CA (backend `ca:`), https:// to a plain-HTTP port, http:// to an HTTPS port. '' otherwise.
 */
export function transportHint(code: string | undefined, message: string, url: string | undefined): string {
  if (code !== undefined && UNTRUSTED_CERT_CODES.has(code)) {
    return '; the backend certificate is not signed by a known CA: give its CA certificate (PEM) as the mount\'s backend ca: FILE ' +
      '(offline tools: NODE_EXTRA_CA_CERTS=FILE npx davcrypt ...)';
  }
  const https = url?.startsWith('https:') ?? false;
  if (https && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long/i.test(message))) {
    return '; the backend does not speak TLS on this port: if it is plain HTTP, write the URL with http://';
  }
  if (url?.startsWith('http:') && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED')) {
    return '; if the backend speaks HTTPS on this port, write the URL with https://';
  }
  return '';
}

/** Maps a thrown transport error (not an HTTP status) to a DavcryptError; `url` (when known) picks a hint. */
export function transportError(where: string, err: unknown, signal?: AbortSignal, url?: string): DavcryptError {
  if (isDavcryptError(err)) return err;
  const e = err as (Error & { code?: string }) | undefined;
  if (signal?.aborted || e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR') {
    return davError('DC_ERR_ABORTED', `${where}: aborted`, { cause: err });
  }
  const code = e?.code ?? (e?.cause as { code?: string } | undefined)?.code;
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return davError('DC_ERR_BAD_REQUEST', `${where}: body length differs from the declared size`, { cause: err });
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return davError('DC_ERR_BACKEND_TIMEOUT', `${where}: backend timed out (${code})`, { cause: err });
  }
  const hint = transportHint(code, `${e?.message ?? ''} ${(e?.cause as Error | undefined)?.message ?? ''}`, url);
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return davError('DC_ERR_BACKEND_UNAVAILABLE', `${where}: backend unreachable (${code})${hint}`, { cause: err });
  }
  return davError('DC_ERR_BACKEND', `${where}: ${e?.message ?? String(err)}${hint}`, { cause: err });
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'DC_ERR_BACKEND', 401: 'DC_ERR_BACKEND_UNAUTHORIZED', 403: 'DC_ERR_FORBIDDEN', 404: 'DC_ERR_NOT_FOUND',
  405: 'DC_ERR_METHOD_NOT_ALLOWED', 409: 'DC_ERR_CONFLICT', 412: 'DC_ERR_PRECONDITION_FAILED',
  413: 'DC_ERR_PAYLOAD_TOO_LARGE', 416: 'DC_ERR_RANGE_NOT_SATISFIABLE', 423: 'DC_ERR_LOCKED',
  502: 'DC_ERR_BACKEND_UNAVAILABLE', 503: 'DC_ERR_BACKEND_UNAVAILABLE', 504: 'DC_ERR_BACKEND_TIMEOUT',
  507: 'DC_ERR_INSUFFICIENT_STORAGE',
};

/** The default error for an unexpected HTTP status; callers override per operation first. */
export function statusError(where: string, status: number, path: string): DavcryptError {
  const code = STATUS_CODES[status] ?? 'DC_ERR_BACKEND';
  const why = code === 'DC_ERR_BACKEND_UNAUTHORIZED' ? 'backend refused the credentials' : 'backend answered';
  return davError(code, `${where}: ${why} ${status}`, { details: { path, backendStatus: status } });
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: string | Readable;
  signal?: AbortSignal;
}

/** A configured HTTP sender: adds Authorization, maps transport failures. */
export class WebdavHttp {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly authorization: string | undefined,
  ) {}

  async send(where: string, method: string, url: string, opts: SendOptions = {}): Promise<Dispatcher.ResponseData> {
    opts.signal?.throwIfAborted();
    const headers: Record<string, string> = { ...opts.headers };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    try {
      return await request(url, {
        method: method as Dispatcher.HttpMethod, headers, body: opts.body, signal: opts.signal, dispatcher: this.dispatcher,
      });
    } catch (err) {
      throw transportError(where, err, opts.signal, url);
    }
  }
}

/** Reads a whole (small) response body as text; DC_ERR_BACKEND beyond `maxBytes`. */
export async function readText(where: string, body: Dispatcher.ResponseData['body'], maxBytes: number, signal?: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        body.destroy();
        throw davError('DC_ERR_BACKEND', `${where}: response larger than ${maxBytes} bytes`);
      }
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    throw transportError(where, err, signal);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Discards a response body so its connection returns to the pool. */
export async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}

/**
 * Hands a response body to a consumer with transport errors mapped to DavcryptErrors, and
 * optionally only bytes [skip, skip + take) of it (for servers that ignore Range).
 * Destroying the returned stream releases the connection.
 */
export function wrapBody(where: string, body: Readable, signal?: AbortSignal, slice?: { skip: number; take: number }): Readable {
  const out = new PassThrough();
  let skip = slice?.skip ?? 0;
  let left = slice?.take ?? Infinity;
  let done = false;
  body.on('data', (chunk: Buffer) => {
    if (done) return;
    let piece = chunk;
    if (skip > 0) {
      const cut = Math.min(skip, piece.length);
      piece = piece.subarray(cut);
      skip -= cut;
    }
    if (piece.length > left) piece = piece.subarray(0, left);
    left -= piece.length;
    if (piece.length > 0 && !out.write(piece)) body.pause();
    if (left <= 0 && !done) {
      done = true;
      out.end();
      body.destroy(); // undici then reports RequestAbortedError, which `done` tells us to ignore
    }
  });
  out.on('drain', () => body.resume());
  body.on('end', () => { done = true; out.end(); });
  body.on('error', (err) => { if (!done && !out.destroyed) out.destroy(transportError(where, err, signal)); });
  out.on('close', () => { if (!body.destroyed) body.destroy(); });
  return out;
}
