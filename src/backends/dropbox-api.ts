// The Dropbox HTTP API v2 client under the Dropbox backend: RPC calls (JSON in, JSON out),
// content uploads (Dropbox-API-Arg header + bytes) and downloads (bytes + Dropbox-API-Result),
// a pacer shared by all calls of one account, bounded retries on 429 (honouring
// Retry-After), 5xx and dropped connections, and a token refresh on 401. Failures become
// DavcryptErrors whose details carry Dropbox's error tags; the backend maps those per
// operation. Knows nothing about backend paths; never logs or reports tokens.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { davError, isDavcryptError, type DavcryptError } from '../errors.js';
import { DROPBOX_API_BASE, DROPBOX_CONTENT_BASE, type DropboxTokenSource } from './dropbox-auth.js';
import { createWebdavAgent, discard, transportError, type WebdavTimeouts } from './webdav-http.js';

export interface DropboxApiOptions {
  tokens: DropboxTokenSource;
  /** RPC base (default https://api.dropboxapi.com). Overridden only by tests (a loopback test server). */
  apiBase?: string;
  /** Content base (default https://content.dropboxapi.com). Overridden only by tests. */
  contentBase?: string;
  timeouts?: WebdavTimeouts;
  maxConnections?: number;
  /** Use this dispatcher instead of creating an Agent (then it is the caller's to close). */
  dispatcher?: Dispatcher;
  /** Attempts after the first one for 429, 5xx and dropped connections (default 6). */
  maxRetries?: number;
  /** Pacer: smallest gap between two request starts (default 10 ms); doubles on each failure. */
  minIntervalMs?: number;
  /** Pacer: largest gap it grows to (default 2 s), and the cap of backoff without Retry-After. */
  maxIntervalMs?: number;
  /** Longest Retry-After honoured before giving up (default 300 s). */
  maxRetryAfterMs?: number;
}

/** Dropbox's error union as tag path, e.g. ['path', 'not_found'] or ['to', 'conflict', 'file']. */
export function dropboxTagsOf(err: unknown): string[] {
  return isDavcryptError(err) && Array.isArray(err.details.dropboxTags) ? (err.details.dropboxTags as string[]) : [];
}

/** True when the error's tag path starts with `prefix` (e.g. hasTags(err, 'path', 'not_found')). */
export function hasTags(err: unknown, ...prefix: string[]): boolean {
  const tags = dropboxTagsOf(err);
  return prefix.every((t, i) => tags[i] === t);
}

/**
 * Follows '.tag' down an error union. Stone puts a struct variant's fields beside its tag
 * (UploadWriteFailed: {'.tag': 'path', reason: {...}}), so when a variant holds no union of its
 * own, the walk steps into the field that does.
 */
function tagPath(error: unknown): string[] {
  const out: string[] = [];
  let node = error as Record<string, unknown> | undefined;
  for (let depth = 0; depth < 8 && node && typeof node === 'object'; depth++) {
    const tag = node['.tag'];
    if (typeof tag === 'string') {
      out.push(tag);
      const inner = node[tag];
      if (inner && typeof inner === 'object') {
        node = inner as Record<string, unknown>;
        continue;
      }
    }
    node = Object.entries(node).find(([k, v]) => k !== '.tag' && v && typeof v === 'object'
      && typeof (v as Record<string, unknown>)['.tag'] === 'string')?.[1] as Record<string, unknown> | undefined;
  }
  return out;
}

/** JSON for the Dropbox-API-Arg header: HTTP headers are ASCII, so everything beyond is \u-escaped. */
export function headerSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Spaces out request starts; grows after failures and Retry-After, shrinks after successes (as rclone's pacer). */
class Pacer {
  private nextStart = 0;
  private gapMs: number;
  constructor(private readonly minMs: number, private readonly maxMs: number) {
    this.gapMs = minMs;
  }
  async wait(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextStart);
    this.nextStart = at + this.gapMs;
    if (at > now) await sleep(at - now, undefined, { signal });
  }
  success(): void {
    this.gapMs = Math.max(this.minMs, this.gapMs / 2);
  }
  /** After a failure: wider gaps, and nobody starts before `retryAfterMs` has passed. */
  failure(retryAfterMs: number): void {
    this.gapMs = Math.min(this.maxMs, this.gapMs * 2);
    this.nextStart = Math.max(this.nextStart, Date.now() + retryAfterMs);
  }
}

interface Call {
  where: string;
  url: string;
  headers: Record<string, string>;
  /** Replayable: every retry sends it again. */
  body?: string | Buffer;
  signal?: AbortSignal;
}

export interface DownloadResponse<T> {
  status: number;
  result?: T;
  headers: Dispatcher.ResponseData['headers'];
  body: Readable;
}

/** Abandons a response body (its connection closes); the abort it reports is expected, not an error. */
export function dropBody(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

export class DropboxApi {
  private readonly dispatcher: Dispatcher;
  private readonly ownedDispatcher?: Dispatcher;
  private readonly apiBase: string;
  private readonly contentBase: string;
  private readonly pacer: Pacer;
  private readonly maxRetries: number;
  private readonly maxIntervalMs: number;
  private readonly maxRetryAfterMs: number;
  /** Counters for tests and diagnostics. */
  readonly stats = { requests: 0, retries: 0, rateLimited: 0, unauthorized: 0 };

  constructor(private readonly opts: DropboxApiOptions) {
    this.dispatcher = opts.dispatcher ?? (this.ownedDispatcher = createWebdavAgent(opts));
    this.apiBase = (opts.apiBase ?? DROPBOX_API_BASE).replace(/\/+$/, '');
    this.contentBase = (opts.contentBase ?? DROPBOX_CONTENT_BASE).replace(/\/+$/, '');
    this.maxRetries = opts.maxRetries ?? 6;
    this.maxIntervalMs = opts.maxIntervalMs ?? 2_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 300_000;
    this.pacer = new Pacer(opts.minIntervalMs ?? 10, this.maxIntervalMs);
  }

  /** The host part of the API base, for backend names (no credentials there). */
  get host(): string {
    return new URL(this.apiBase).host;
  }

  /** POST /2/<route> with a JSON argument (undefined: no body). Throws mapped DavcryptErrors. */
  async rpc<T>(route: string, arg: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (arg !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(arg);
    }
    const res = await this.send({ where: `dropbox ${route}`, url: `${this.apiBase}/2/${route}`, headers, body, signal });
    return (await res.body.json()) as T;
  }

  /** POST bytes to a content-upload route (files/upload, upload_session/*). */
  async upload<T>(route: string, arg: unknown, data: Buffer, signal?: AbortSignal): Promise<T> {
    const res = await this.send({
      where: `dropbox ${route}`, url: `${this.contentBase}/2/${route}`, body: data, signal,
      headers: { 'content-type': 'application/octet-stream', 'dropbox-api-arg': headerSafeJson(arg) },
    });
    return (await res.body.json()) as T;
  }

  /**
   * A content-download route (files/download), optionally with a Range header. 200 and 206 come
   * back with the body unread; 416 too (so the caller can decide about empty files).
   */
  async download<T>(route: string, arg: unknown, range: string | undefined, signal?: AbortSignal): Promise<DownloadResponse<T>> {
    const headers: Record<string, string> = { 'dropbox-api-arg': headerSafeJson(arg), 'accept-encoding': 'identity' };
    if (range !== undefined) headers.range = range;
    const res = await this.send({ where: `dropbox ${route}`, url: `${this.contentBase}/2/${route}`, headers, signal }, [416]);
    const raw = res.headers['dropbox-api-result'];
    const text = Array.isArray(raw) ? raw[0] : raw;
    let result: T | undefined;
    if (text !== undefined) {
      try {
        result = JSON.parse(text) as T;
      } catch (err) {
        dropBody(res.body);
        throw davError('DC_ERR_BACKEND', `dropbox ${route}: unreadable Dropbox-API-Result header`, { cause: err });
      }
    }
    return { status: res.statusCode, result, headers: res.headers, body: res.body };
  }

  /** Sends with pacing, retries and token refresh; returns 2xx (and `pass` statuses) with the body unread. */
  private async send(call: Call, pass: number[] = []): Promise<Dispatcher.ResponseData> {
    let rejected: string | undefined;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      call.signal?.throwIfAborted();
      await this.pacer.wait(call.signal).catch((err: unknown) => { throw transportError(call.where, err, call.signal); });
      const token = await this.opts.tokens.accessToken(call.signal, rejected);
      let res: Dispatcher.ResponseData;
      this.stats.requests++;
      try {
        res = await request(call.url, {
          method: 'POST', headers: { ...call.headers, authorization: `Bearer ${token}` }, body: call.body,
          signal: call.signal, dispatcher: this.dispatcher,
        });
      } catch (err) {
        const mapped = transportError(call.where, err, call.signal);
        if (mapped.code !== 'DC_ERR_BACKEND_UNAVAILABLE' || attempt >= this.maxRetries) throw mapped;
        await this.backoff(call, attempt, undefined);
        continue;
      }
      if ((res.statusCode >= 200 && res.statusCode < 300) || pass.includes(res.statusCode)) {
        this.pacer.success();
        return res;
      }
      const failure = await this.failureOf(call.where, res, call.signal);
      if (res.statusCode === 401) {
        this.stats.unauthorized++;
        // An expired (or revoked-and-renewed) access token: fetch a fresh one once.
        if (this.opts.tokens.refreshable && !refreshed) {
          refreshed = true;
          rejected = token;
          continue;
        }
        throw failure;
      }
      const retryable = res.statusCode === 429 || res.statusCode >= 500 || dropboxTagsOf(failure).includes('too_many_write_operations');
      if (!retryable || attempt >= this.maxRetries) throw failure;
      if (res.statusCode === 429) this.stats.rateLimited++;
      await this.backoff(call, attempt, failure.details.retryAfterMs as number | undefined);
    }
  }

  private async backoff(call: Call, attempt: number, retryAfterMs: number | undefined): Promise<void> {
    this.stats.retries++;
    if (retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs) {
      throw davError('DC_ERR_BACKEND_UNAVAILABLE', `${call.where}: Dropbox asks to wait ${Math.ceil(retryAfterMs / 1000)} s; giving up`);
    }
    // Without Retry-After: exponential, capped, with jitter so parallel callers do not retry in step.
    const wait = retryAfterMs ?? Math.min(this.maxIntervalMs, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
    this.pacer.failure(wait);
    await sleep(wait, undefined, { signal: call.signal }).catch((err: unknown) => { throw transportError(call.where, err, call.signal); });
  }

  /** Reads an error answer (JSON `{error_summary, error}` or text) into a DavcryptError. */
  private async failureOf(where: string, res: Dispatcher.ResponseData, signal?: AbortSignal): Promise<DavcryptError> {
    let text = '';
    try {
      text = (await res.body.text()).slice(0, 4096);
    } catch (err) {
      await discard(res.body);
      if (signal?.aborted) return transportError(where, err, signal);
    }
    let summary: string | undefined;
    let error: unknown;
    try {
      const json = JSON.parse(text) as { error_summary?: unknown; error?: unknown };
      summary = typeof json.error_summary === 'string' ? json.error_summary : undefined;
      error = json.error;
    } catch {
      // 400 answers are plain text
    }
    const tags = tagPath(error);
    const details: Record<string, unknown> = { backendStatus: res.statusCode, dropboxTags: tags, dropboxError: error };
    const retryAfterHeader = res.headers['retry-after'];
    const retryAfter = Number(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader);
    const bodyRetry = (error as { retry_after?: unknown } | undefined)?.retry_after;
    if (Number.isFinite(retryAfter) && retryAfter >= 0) details.retryAfterMs = retryAfter * 1000;
    else if (typeof bodyRetry === 'number') details.retryAfterMs = bodyRetry * 1000;
    const what = summary ?? (text.trim().slice(0, 300) || `status ${res.statusCode}`);
    const s = res.statusCode;
    if (s === 401) return davError('DC_ERR_BACKEND_UNAUTHORIZED', `${where}: Dropbox refused the access token (${what})`, { details });
    if (s === 403) return davError('DC_ERR_FORBIDDEN', `${where}: not allowed (${what})`, { details });
    if (s === 429 || s >= 500) return davError('DC_ERR_BACKEND_UNAVAILABLE', `${where}: Dropbox answered ${s} (${what})`, { details });
    if (s === 409 && (tags.includes('disallowed_name') || tags.includes('malformed_path'))) {
      // e.g. desktop.ini, .DS_Store, names with trailing spaces or backslashes: Dropbox keeps no such file.
      return davError('DC_ERR_FORBIDDEN', `${where}: Dropbox does not accept this name (${what})`, { details });
    }
    if (s === 409 && (tags.includes('insufficient_space') || tags.includes('insufficient_quota'))) {
      return davError('DC_ERR_INSUFFICIENT_STORAGE', `${where}: the Dropbox account is full`, { details });
    }
    return davError('DC_ERR_BACKEND', `${where}: Dropbox answered ${s} (${what})`, { details });
  }

  async close(): Promise<void> {
    await this.ownedDispatcher?.close();
  }
}
