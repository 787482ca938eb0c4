// The WebDAV backend: any WebDAV store (Apache mod_dav, Nextcloud/ownCloud, rclone
// serve webdav) through undici. Bodies stream both ways; server quirks (lenient MKCOL,
// ignored If-Match, 403/500 for a missing MOVE source) are smoothed here so every
// backend fails with the same codes. Must not know about encryption, never log credentials.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import { davError, isDavcryptError, type DavcryptError } from '../errors.js';
import { TEMP_NAME, TEMP_PREFIX } from './layout.js';
import { baseName, isSameOrInside, joinPath, normalizePath, parentPath } from './paths.js';
import type {
  Backend, BackendCapabilities, EntryInfo, OpOptions, QuotaInfo, ReadOptions, ReadResult, TransferOptions, WriteOptions,
} from './types.js';
import {
  WebdavHttp, basicAuthorization, createWebdavAgent, discard, statusError, transportError, wrapBody,
  type WebdavTimeouts,
} from './webdav-http.js';
import { WebdavPaths } from './webdav-paths.js';
import {
  UploadModeMeasurement, type UploadMode, type UploadProbeLogger, type UploadProbeOptions, type UploadProbeResult,
} from './webdav-upload-probe.js';
import { PROPFIND_ENTRY_BODY, PROPFIND_QUOTA_BODY, createMultistatusParser, type DavResponse } from './webdav-xml.js';

export interface WebdavBackendOptions {
  /** Base URL of the share, e.g. 'https://cloud.example/remote.php/dav/files/alice/'. Credentials in it are used, never shown. */
  url: string;
  username?: string;
  password?: string;
  /** Extra trusted CA certificates (PEM) for an https backend with a private CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  timeouts?: WebdavTimeouts;
  /** Upper bound of parallel connections to the backend (default 64; each user has at most timeouts.backendRequestsPerUser). */
  maxConnections?: number;
  /** Use this dispatcher instead of creating an Agent (then timeouts/ca/maxConnections are the caller's). */
  dispatcher?: Dispatcher;
  /**
   * true: upload to a hidden temp name and MOVE it into place, for servers that write the body
   * straight into the target (rclone serve webdav), so an aborted upload cannot destroy the
   * previous version; costs a PROPFIND and a MOVE per write. false: PUT onto the target.
   * 'auto' (default): the first write() measures once which one this server needs (see uploadMode()).
   */
  uploadViaTemp?: boolean | 'auto';
  /** Tunes the 'auto' measurement (tests). */
  uploadProbe?: UploadProbeOptions;
  /** Receives the 'auto' decision (info) and probe failures (warn). Messages never hold credentials. */
  logger?: UploadProbeLogger;
  /** Largest PROPFIND answer accepted, in bytes (default 64 MiB). */
  maxPropfindBytes?: number;
  /**
   * Temp uploads (TEMP_NAME) not modified for this long are leftovers of a killed gateway: removed
   * when their folder is next written through a temp name (default 1 h; 0 disables).
   */
  staleTempMs?: number;
}

/** Opaque-tag equality (RFC 9110 weak comparison): Apache turns W/"x" into "x" a second after a write. */
export function etagsMatchWeakly(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

function parseContentRange(header: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = header === undefined ? null : /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class WebdavBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities = {
    rangeRead: true, serverSideMove: true, serverSideCopy: true, setModified: false, quota: true, writeReportsCreated: true,
  };
  private readonly paths: WebdavPaths;
  private readonly http: WebdavHttp;
  private readonly ownedDispatcher?: Dispatcher;
  private readonly maxPropfindBytes: number;
  private readonly uploadViaTemp: boolean;
  /** Set for uploadViaTemp 'auto': decides (once) whether writes go via a temp name. */
  private readonly uploadMeasurement?: UploadModeMeasurement;
  private closed = false;
  private readonly staleTempMs: number;
  /** Folders swept for stale temp uploads, and when (bounded). */
  private readonly sweptAt = new Map<string, number>();

  constructor(opts: WebdavBackendOptions) {
    const u = new URL(opts.url);
    const username = opts.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
    const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
    this.paths = new WebdavPaths(u);
    this.name = `webdav:${this.paths.baseUrl}`;
    const dispatcher = opts.dispatcher ?? (this.ownedDispatcher = createWebdavAgent(opts));
    this.http = new WebdavHttp(dispatcher, username !== undefined ? basicAuthorization(username, password ?? '') : undefined);
    this.maxPropfindBytes = opts.maxPropfindBytes ?? 64 * 1024 * 1024;
    this.staleTempMs = opts.staleTempMs ?? 60 * 60 * 1000;
    const setting = opts.uploadViaTemp ?? 'auto';
    this.uploadViaTemp = setting === true;
    if (setting === 'auto') {
      this.uploadMeasurement = new UploadModeMeasurement(
        { name: this.name, http: this.http, urlFor: (p) => this.paths.urlFor(p), removeLater: (p, retry) => this.removeTemp(p, retry) },
        { probe: opts.uploadProbe, logger: opts.logger, isClosed: () => this.closed },
      );
    }
  }

  /**
   * How writes upload. Fixed by uploadViaTemp true/false; with 'auto', measured once per backend
   * (in the folder of the first write, or in `folder` when no write has started it). Never throws.
   */
  async uploadMode(folder = '/'): Promise<UploadMode> {
    if (!this.uploadMeasurement) return this.uploadViaTemp ? 'temp' : 'direct';
    return (await this.uploadMeasurement.measure(normalizePath(folder))).mode;
  }

  /** The finished 'auto' measurement (undefined before it, or with uploadViaTemp true/false). */
  get uploadProbeResult(): UploadProbeResult | undefined {
    return this.uploadMeasurement?.result;
  }

  private where(op: string, path: string): string {
    return `${this.name} ${op} ${path}`;
  }

  /** PROPFIND; 404 (and 400/409, which servers send for a path below a file) is DC_ERR_NOT_FOUND. */
  private async propfind(
    op: string, path: string, depth: '0' | '1', body: string, signal?: AbortSignal, onResponse?: (r: DavResponse) => void,
  ): Promise<DavResponse[]> {
    const where = this.where(op, path);
    const res = await this.http.send(where, 'PROPFIND', this.paths.urlFor(path), {
      headers: { depth, 'content-type': 'application/xml; charset=utf-8' }, body, signal,
    });
    if (res.statusCode !== 207) {
      await discard(res.body);
      if ([400, 404, 409].includes(res.statusCode)) {
        throw davError('DC_ERR_NOT_FOUND', `${where}: not found (${res.statusCode})`, { details: { path, backendStatus: res.statusCode } });
      }
      throw statusError(where, res.statusCode, path);
    }
    // Parsed while it arrives: memory holds the entries, not the document.
    const parser = createMultistatusParser(onResponse);
    // StringDecoder rather than TextDecoder: ~6x faster on a listing's chunks; both replace invalid
    // UTF-8 with U+FFFD. TextDecoder dropped a leading byte order mark, so it is dropped here too.
    const decoder = new StringDecoder('utf8');
    let first = true;
    const decode = (chunk: Buffer): string => {
      const text = decoder.write(chunk);
      if (!first || text === '') return text;
      first = false;
      return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    };
    let total = 0;
    const parse = (step: () => void) => {
      try {
        step();
      } catch (err) {
        throw davError('DC_ERR_BACKEND', `${where}: ${(err as Error).message}`, { cause: err });
      }
    };
    try {
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        if (total > this.maxPropfindBytes) throw davError('DC_ERR_BACKEND', `${where}: response larger than ${this.maxPropfindBytes} bytes`);
        parse(() => parser.write(decode(chunk as Buffer)));
      }
    } catch (err) {
      res.body.destroy();
      throw transportError(where, err, signal);
    }
    let responses: DavResponse[] = [];
    parse(() => {
      parser.write(decoder.end()); // an incomplete last sequence: U+FFFD, never a byte order mark
      responses = parser.end();
    });
    return responses;
  }

  private toEntry(path: string, r: DavResponse): EntryInfo {
    return {
      name: baseName(path), path, type: r.collection ? 'directory' : 'file', size: r.collection ? 0 : r.contentLength ?? 0,
      etag: r.etag, lastModified: r.lastModified, creationDate: r.creationDate, contentType: r.collection ? undefined : r.contentType,
    };
  }

  /** Throws DC_ERR_NOT_FOUND. */
  async stat(path: string, opts: OpOptions = {}): Promise<EntryInfo> {
    const norm = normalizePath(path);
    const responses = await this.propfind('stat', norm, '0', PROPFIND_ENTRY_BODY, opts.signal);
    const self = responses.find((r) => this.paths.pathFromHref(r.href) === norm) ?? responses[0];
    if (!self || (self.status !== undefined && self.status !== 200)) throw davError('DC_ERR_NOT_FOUND', `${this.where('stat', norm)}: not found`);
    return this.toEntry(norm, self);
  }

  private async statOrUndefined(path: string, signal?: AbortSignal): Promise<EntryInfo | undefined> {
    try {
      return await this.stat(path, { signal });
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_NOT_A_COLLECTION. Hides davcrypt temp uploads. */
  async list(path: string, opts: OpOptions = {}): Promise<EntryInfo[]> {
    const { self, children } = await this.listWithSelf(path, opts);
    if (self.type !== 'directory') {
      throw davError('DC_ERR_NOT_A_COLLECTION', `${this.where('list', self.path)}: not a folder`, { details: { path: self.path } });
    }
    return children;
  }

  /** One Depth-1 PROPFIND: the entry itself and, for a folder, its children. Throws DC_ERR_NOT_FOUND. */
  async listWithSelf(path: string, opts: OpOptions = {}): Promise<{ self: EntryInfo; children: EntryInfo[] }> {
    let self: EntryInfo | undefined;
    const children: EntryInfo[] = [];
    await this.listEach(path, (e, isSelf) => {
      if (isSelf) self = e;
      else children.push(e);
    }, opts);
    return { self: self!, children: self!.type === 'directory' ? children : [] };
  }

  /**
   * listWithSelf as the answer is parsed (Backend.listEach): one Depth-1 PROPFIND, each entry handed
   * over once, children only below `path`, hidden temp uploads left out. Throws DC_ERR_NOT_FOUND.
   */
  async listEach(path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts: OpOptions = {}): Promise<void> {
    const norm = normalizePath(path);
    const seen = new Set<string>();
    let self: EntryInfo | undefined;
    let first: DavResponse | undefined;
    await this.propfind('list', norm, '1', PROPFIND_ENTRY_BODY, opts.signal, (r) => {
      first ??= r;
      const p = this.paths.pathFromHref(r.href);
      if (p === undefined) return;
      if (p === norm) {
        if (self === undefined && (r.status === undefined || r.status === 200)) {
          self = this.toEntry(norm, r);
          onEntry(self, true);
        }
        return;
      }
      if (parentPath(p) !== norm || baseName(p).startsWith(TEMP_PREFIX) || seen.has(p)) return;
      if (r.status !== undefined && r.status !== 200) return;
      seen.add(p);
      onEntry(this.toEntry(p, r), false);
    });
    if (self) return;
    // The server names the folder by an href we cannot map: take the first answer, as stat() does.
    if (!first || (first.status !== undefined && first.status !== 200)) {
      throw davError('DC_ERR_NOT_FOUND', `${this.where('list', norm)}: not found`, { details: { path: norm } });
    }
    const p = this.paths.pathFromHref(first.href);
    onEntry(p !== undefined && seen.has(p) ? { name: baseName(norm), path: norm, type: 'directory', size: 0 } : this.toEntry(norm, first), true);
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_IS_A_COLLECTION, DC_ERR_RANGE_NOT_SATISFIABLE. */
  async read(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    const norm = normalizePath(path);
    const where = this.where('read', norm);
    const { range, signal } = opts;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (range) headers.range = `bytes=${range.start}-${range.end ?? ''}`;
    // Weak tags never match If-Match (strong comparison): callers compare the returned etag instead.
    if (opts.ifMatch !== undefined && !opts.ifMatch.startsWith('W/')) headers['if-match'] = opts.ifMatch;
    const res = await this.http.send(where, 'GET', this.paths.urlFor(norm), { headers, signal });
    if (res.statusCode === 412 && headers['if-match'] !== undefined) {
      await discard(res.body);
      throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: ETag does not match`, { details: { path: norm } });
    }
    const h = res.headers;
    const fromHeaders = (size: number): EntryInfo => ({
      name: baseName(norm), path: norm, type: 'file', size, etag: header(h, 'etag'),
      lastModified: h['last-modified'] ? new Date(header(h, 'last-modified')!) : undefined,
      contentType: header(h, 'content-type'),
    });
    if (res.statusCode === 206) {
      const cr = parseContentRange(header(h, 'content-range'));
      if (!cr) {
        await discard(res.body);
        throw davError('DC_ERR_BACKEND', `${where}: 206 without a usable Content-Range`);
      }
      const info = cr.total !== undefined ? fromHeaders(cr.total) : await this.stat(norm, { signal });
      return { body: wrapBody(where, res.body, signal), info, range: { start: cr.start, end: cr.end } };
    }
    if (res.statusCode === 200) {
      const length = h['content-length'] !== undefined ? Number(header(h, 'content-length')) : undefined;
      const htmlWithoutEtag = /^text\/html/i.test(header(h, 'content-type') ?? '') && h.etag === undefined;
      let info = length !== undefined && !htmlWithoutEtag ? fromHeaders(length) : undefined;
      if (info === undefined) {
        // No length, or maybe a rendered folder listing: ask what the path is.
        const st = await this.stat(norm, { signal }).catch(async (err) => { await discard(res.body); throw err; });
        if (st.type === 'directory') {
          await discard(res.body);
          throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
        }
        info = st;
      }
      if (!range || info.size === 0) return { body: wrapBody(where, res.body, signal), info };
      // The server ignored Range: cut the slice out of the full body ourselves.
      if (range.start >= info.size) {
        await discard(res.body);
        throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${where}: range starts at ${range.start}, size is ${info.size}`);
      }
      const end = Math.min(range.end ?? info.size - 1, info.size - 1);
      return { body: wrapBody(where, res.body, signal, { skip: range.start, take: end - range.start + 1 }), info, range: { start: range.start, end } };
    }
    await discard(res.body);
    // 416 on an empty file is not an error for us; 403/404/405/409 may mean "that is a folder".
    const st = await this.statOrUndefined(norm, signal);
    if (st?.type === 'directory') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
    if (res.statusCode === 416 && st?.size === 0) return { body: Readable.from([]), info: st };
    if (res.statusCode === 416 && st !== undefined) {
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${where}: range not satisfiable (size ${st.size})`, { details: { path: norm, size: st.size } });
    }
    if (st === undefined && [403, 404, 405, 409, 416].includes(res.statusCode)) {
      throw davError('DC_ERR_NOT_FOUND', `${where}: not found (${res.statusCode})`, { details: { path: norm } });
    }
    throw statusError(where, res.statusCode, norm);
  }

  /** Throws DC_ERR_CONFLICT, DC_ERR_IS_A_COLLECTION, DC_ERR_PRECONDITION_FAILED, DC_ERR_INSUFFICIENT_STORAGE,
   *  DC_ERR_ABORTED (signal or failing body), DC_ERR_BAD_REQUEST (length differs from opts.size), backend errors. */
  async write(path: string, body: Readable, opts: WriteOptions = {}): Promise<EntryInfo> {
    const norm = normalizePath(path);
    const where = this.where('write', norm);
    let bodyError: unknown;
    const onBodyError = (err: unknown) => { bodyError ??= err; };
    body.on('error', onBodyError);
    let tempPath: string | undefined;
    let current: EntryInfo | undefined;
    try {
      if (norm === '/') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is the root folder`);
      if (baseName(norm).startsWith(TEMP_PREFIX)) throw davError('DC_ERR_FORBIDDEN', `${where}: reserved name`);
      // The probe's own requests and failures never touch this body or fail this write.
      const viaTemp = this.uploadMeasurement ? await this.uploadMeasurement.viaTemp(parentPath(norm), opts.signal) : this.uploadViaTemp;
      if (opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined || viaTemp) {
        // With a temp upload the final MOVE would replace a folder: refuse before sending the body.
        current = await this.checkPreconditions(norm, opts);
        if (current?.type === 'directory') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
      }
      const headers: Record<string, string> = {};
      if (opts.size !== undefined) headers['content-length'] = String(opts.size);
      if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
      // Servers that honour these close the race left by checkPreconditions; weak ETags would never match If-Match.
      if (opts.ifMatch !== undefined && !opts.ifMatch.startsWith('W/') && !viaTemp) headers['if-match'] = opts.ifMatch;
      if (opts.ifNoneMatch === '*' && !viaTemp) headers['if-none-match'] = '*';
      if (viaTemp) tempPath = joinPath(parentPath(norm), TEMP_PREFIX + randomBytes(8).toString('hex'));
      const putPath = tempPath ?? norm;
      const res = await this.http.send(where, 'PUT', this.paths.urlFor(putPath), { headers, body, signal: opts.signal });
      await discard(res.body);
      if (res.statusCode < 200 || res.statusCode > 299) {
        if (bodyError !== undefined) throw bodyError;
        throw await this.writeStatusError(norm, res.statusCode, opts.signal);
      }
      if (bodyError !== undefined) throw bodyError;
      opts.signal?.throwIfAborted();
      if (tempPath !== undefined) {
        if (opts.outcome) opts.outcome.created = current === undefined;
        await this.transfer('MOVE', 'write', tempPath, norm, { overwrite: true, signal: opts.signal });
        tempPath = undefined;
        this.sweepLater(parentPath(norm));
        if (opts.etagOptional && opts.size !== undefined) {
          return { name: baseName(norm), path: norm, type: 'file', size: opts.size, contentType: opts.contentType };
        }
        return await this.stat(norm, { signal: opts.signal });
      }
      // RFC 4918: 201 for a new resource, 204 (or 200) for a replaced one.
      if (opts.outcome && (res.statusCode === 201 || res.statusCode === 204)) opts.outcome.created = res.statusCode === 201;
      const etag = header(res.headers, 'etag');
      if (opts.size === undefined || (etag === undefined && !opts.etagOptional)) return await this.stat(norm, { signal: opts.signal });
      if (opts.outcome && etag !== undefined) opts.outcome.etagConfirmed = true;
      const lastModified = header(res.headers, 'last-modified');
      return {
        name: baseName(norm), path: norm, type: 'file', size: opts.size, etag,
        lastModified: lastModified ? new Date(lastModified) : undefined, contentType: opts.contentType,
      };
    } catch (err) {
      // undici destroys the body with its own transport error (backend reset, timeout): that one is
      // the backend's failure (502/503/504), not a failing body (client abort, 499).
      const fromBody = bodyError !== undefined && bodyError !== err && bodyError !== (err as { cause?: unknown })?.cause;
      if (fromBody && !isDavcryptError(bodyError)) {
        throw davError('DC_ERR_ABORTED', `${where}: body stream failed`, { cause: bodyError, details: { path: norm } });
      }
      throw transportError(where, fromBody ? bodyError : err, opts.signal);
    } finally {
      body.off('error', onBodyError);
      if (tempPath !== undefined) await this.removeTemp(tempPath);
    }
  }

  /**
   * Deletes a failed temp upload. The server may still be finishing the aborted PUT (rclone even
   * completes it with the partial body) and so re-create the file after our DELETE: repeat a few
   * times in the background (unless `retry` is false). list() hides leftovers anyway.
   */
  private async removeTemp(tempPath: string, retry = true): Promise<void> {
    const attempt = async (): Promise<void> => {
      if (this.closed) return;
      try {
        const res = await this.http.send(this.where('write-cleanup', tempPath), 'DELETE', this.paths.urlFor(tempPath));
        await discard(res.body);
      } catch {
        // Best effort: a leftover temp file is hidden and harmless.
      }
    };
    await attempt();
    if (!retry) return;
    void (async () => {
      for (const delayMs of [300, 1200, 3000]) {
        await new Promise((r) => setTimeout(r, delayMs).unref());
        await attempt();
      }
    })();
  }

  /**
   * Removes, in the background, temp uploads in `folder` older than staleTempMs (left by a gateway
   * killed mid-upload; list() hides them but they take space). At most once per staleTempMs per
   * folder; only names matching TEMP_NAME; errors ignored.
   */
  private sweepLater(folder: string): void {
    if (this.staleTempMs <= 0 || this.closed) return;
    const now = Date.now();
    const last = this.sweptAt.get(folder);
    if (last !== undefined && now - last < this.staleTempMs) return;
    this.sweptAt.set(folder, now);
    if (this.sweptAt.size > 10_000) this.sweptAt.delete(this.sweptAt.keys().next().value!);
    void this.removeStaleTemps(folder, this.staleTempMs).catch(() => undefined);
  }

  /** The sweep behind sweepLater, awaited (tests). Returns the paths removed. Throws DC_ERR_NOT_FOUND. */
  async removeStaleTemps(folder: string, minAgeMs: number): Promise<string[]> {
    const norm = normalizePath(folder);
    const stale: string[] = [];
    const now = Date.now();
    await this.propfind('sweep', norm, '1', PROPFIND_ENTRY_BODY, undefined, (r) => {
      const p = this.paths.pathFromHref(r.href);
      if (p === undefined || p === norm || parentPath(p) !== norm || r.collection || !TEMP_NAME.test(baseName(p))) return;
      // No date means no age: keep it rather than guess.
      if (r.lastModified === undefined || now - r.lastModified.getTime() < minAgeMs) return;
      stale.push(p);
    });
    const removed: string[] = [];
    for (const p of stale) {
      if (this.closed) break;
      const res = await this.http.send(this.where('sweep', p), 'DELETE', this.paths.urlFor(p)).catch(() => undefined);
      if (res) await discard(res.body);
      if (res && (res.statusCode === 200 || res.statusCode === 204)) removed.push(p);
    }
    return removed;
  }

  /** Best-effort check for servers that ignore If-Match / If-None-Match (rclone). */
  private async checkPreconditions(norm: string, opts: WriteOptions): Promise<EntryInfo | undefined> {
    const current = await this.statOrUndefined(norm, opts.signal);
    const where = this.where('write', norm);
    if (opts.ifNoneMatch === '*' && current) throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: exists (If-None-Match: *)`);
    if (opts.ifMatch !== undefined && (!current || (opts.ifMatch !== '*' && !etagsMatchWeakly(opts.ifMatch, current.etag)))) {
      throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: ETag does not match`);
    }
    return current;
  }

  /** PUT failed: Apache says 409 for a folder target, rclone 405; a missing parent is 409 or 404. */
  private async writeStatusError(norm: string, status: number, signal?: AbortSignal): Promise<DavcryptError> {
    const where = this.where('write', norm);
    if ([404, 405, 409].includes(status)) {
      const target = await this.statOrUndefined(norm, signal).catch(() => undefined);
      if (target?.type === 'directory') return davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder (${status})`, { details: { path: norm } });
      const parent = await this.statOrUndefined(parentPath(norm), signal).catch(() => undefined);
      if (parent?.type !== 'directory') return davError('DC_ERR_CONFLICT', `${where}: parent folder missing (${status})`, { details: { path: norm } });
    }
    return statusError(where, status, norm);
  }

  /** Throws DC_ERR_EXISTS, DC_ERR_CONFLICT. Checks first: some servers (rclone) answer 201 for an existing folder. */
  async mkdir(path: string, opts: OpOptions = {}): Promise<void> {
    const norm = normalizePath(path);
    const where = this.where('mkdir', norm);
    if (await this.statOrUndefined(norm, opts.signal)) throw davError('DC_ERR_EXISTS', `${where}: already exists`, { details: { path: norm } });
    const res = await this.http.send(where, 'MKCOL', this.paths.urlFor(norm), { signal: opts.signal });
    await discard(res.body);
    if (res.statusCode === 201 || res.statusCode === 200 || res.statusCode === 204) return;
    if (res.statusCode === 405) throw davError('DC_ERR_EXISTS', `${where}: already exists (405)`, { details: { path: norm } });
    if (res.statusCode === 409 || res.statusCode === 404) throw davError('DC_ERR_CONFLICT', `${where}: parent folder missing (${res.statusCode})`, { details: { path: norm } });
    throw statusError(where, res.statusCode, norm);
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_FORBIDDEN (the root). */
  async delete(path: string, opts: OpOptions = {}): Promise<void> {
    const norm = normalizePath(path);
    const where = this.where('delete', norm);
    if (norm === '/') throw davError('DC_ERR_FORBIDDEN', `${where}: refusing to delete the root`);
    const res = await this.http.send(where, 'DELETE', this.paths.urlFor(norm), { signal: opts.signal });
    await discard(res.body);
    if (res.statusCode === 200 || res.statusCode === 204) return;
    // 207 means some members could not be deleted.
    throw statusError(where, res.statusCode, norm);
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN. */
  async move(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    await this.transfer('MOVE', 'move', normalizePath(from), normalizePath(to), opts);
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN. */
  async copy(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    await this.transfer('COPY', 'copy', normalizePath(from), normalizePath(to), opts);
  }

  private async transfer(method: 'MOVE' | 'COPY', op: string, from: string, to: string, opts: TransferOptions): Promise<void> {
    const where = `${this.name} ${op} ${from} -> ${to}`;
    if (from === '/' || to === '/' || isSameOrInside(from, to)) {
      throw davError('DC_ERR_FORBIDDEN', `${where}: target is the source, inside it, or the root`, { details: { path: from, to } });
    }
    const overwrite = opts.overwrite === true;
    const headers: Record<string, string> = { destination: this.paths.urlFor(to), overwrite: overwrite ? 'T' : 'F' };
    if (method === 'COPY') headers.depth = 'infinity';
    const res = await this.http.send(where, method, this.paths.urlFor(from), { headers, signal: opts.signal });
    await discard(res.body);
    if (res.statusCode === 201 || res.statusCode === 204 || res.statusCode === 200) return;
    if (res.statusCode === 412 && !overwrite) throw davError('DC_ERR_EXISTS', `${where}: target exists`, { details: { path: to } });
    // Servers disagree here (Apache: 500 for a missing target parent; rclone: 403 for a missing source): look.
    if ([403, 404, 409, 412, 500].includes(res.statusCode)) {
      const source = await this.statOrUndefined(from, opts.signal).catch(() => undefined);
      if (!source) throw davError('DC_ERR_NOT_FOUND', `${where}: source not found (${res.statusCode})`, { details: { path: from } });
      const parent = await this.statOrUndefined(parentPath(to), opts.signal).catch(() => undefined);
      if (parent?.type !== 'directory') throw davError('DC_ERR_CONFLICT', `${where}: target parent missing (${res.statusCode})`, { details: { path: to } });
    }
    throw statusError(where, res.statusCode, from);
  }

  /** RFC 4331 quota of a folder; fields the server does not report stay undefined. Throws DC_ERR_NOT_FOUND. */
  async quota(path: string, opts: OpOptions = {}): Promise<QuotaInfo> {
    const norm = normalizePath(path);
    const responses = await this.propfind('quota', norm, '0', PROPFIND_QUOTA_BODY, opts.signal);
    const self = responses.find((r) => this.paths.pathFromHref(r.href) === norm) ?? responses[0];
    return { available: self?.quotaAvailableBytes, used: self?.quotaUsedBytes };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.ownedDispatcher?.close();
  }
}

/** Creates a WebDAV backend and checks that its root answers (DC_ERR_BACKEND_UNAUTHORIZED, DC_ERR_BACKEND_UNAVAILABLE, DC_ERR_NOT_FOUND). */
export async function createWebdavBackend(opts: WebdavBackendOptions): Promise<WebdavBackend> {
  const backend = new WebdavBackend(opts);
  try {
    const root = await backend.stat('/');
    if (root.type !== 'directory') throw davError('DC_ERR_CONFIG', `${backend.name}: the URL is not a folder`);
  } catch (err) {
    await backend.close();
    throw err;
  }
  return backend;
}
