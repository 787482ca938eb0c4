// The Dropbox backend: a Dropbox folder (the configured root) through the Dropbox HTTP
// API v2 (dropbox-api.ts). Smooths what Dropbox does differently from a file system so
// it fails with the contract's codes: it creates missing parents silently (checked here
// first), has no overwriting move/copy (the target is moved aside, then removed), no
// case-only rename (done via a temp name), no metadata for its own root (faked), and
// folds names by case and Unicode form (a second spelling is refused: DC_ERR_NAME_CONFLICT).
// Must not know about encryption; never logs tokens.
import { Readable, Transform, pipeline } from 'node:stream';
import { davError, isDavcryptError, type DavcryptError } from '../errors.js';
import { DropboxApi, dropBody, hasTags, type DropboxApiOptions } from './dropbox-api.js';
import { DropboxContentHasher } from './dropbox-hash.js';
import { transferEntry, type TransferContext } from './dropbox-transfer.js';
import { DropboxPaths, type DropboxFileMetadata, type DropboxListFolderResult, type DropboxMetadata } from './dropbox-types.js';
import { DROPBOX_BLOCK_BYTES } from './dropbox-hash.js';
import { DROPBOX_DEFAULT_CHUNK_BYTES, DROPBOX_MAX_CHUNK_BYTES, uploadBody, type DropboxCommit } from './dropbox-upload.js';
import { contentTypeFor } from './local.js';
import { TEMP_PREFIX } from './layout.js';
import { baseName, joinPath, normalizePath, parentPath } from './paths.js';
import type {
  Backend, BackendCapabilities, EntryInfo, OpOptions, QuotaInfo, ReadOptions, ReadResult, TransferOptions, WriteOptions,
} from './types.js';
import { wrapBody } from './webdav-http.js';

export interface DropboxBackendOptions {
  /** Folder in the Dropbox account that is this backend's '/', e.g. '/davcrypt/alice' ('/' = the whole account). */
  root: string;
  /** A shared API client (one per account: one pacer, one token); else `api` options make a private one. */
  client?: DropboxApi;
  api?: DropboxApiOptions;
  /** Upload chunk size: a multiple of 4 MiB up to 148 MiB (default 8 MiB); one chunk per upload is held in memory. */
  chunkBytes?: number;
  /** list_folder page size hint (default 2000, Dropbox's maximum). */
  listLimit?: number;
}

/** Dropbox's ETag is the file's rev, quoted. */
function etagOfRev(rev: string): string {
  return `"${rev}"`;
}

function revOfEtag(etag: string): string | undefined {
  const m = /^"([0-9a-f]{9,})"$/.exec(etag);
  return m?.[1];
}

export class DropboxBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities = {
    rangeRead: true, serverSideMove: true, serverSideCopy: true, setModified: false, quota: true,
    writeReportsCreated: true, caseInsensitive: true,
  };
  readonly paths: DropboxPaths;
  readonly api: DropboxApi;
  private readonly ownsApi: boolean;
  private readonly chunkBytes: number;
  private readonly listLimit: number;

  constructor(opts: DropboxBackendOptions) {
    this.paths = new DropboxPaths(opts.root);
    if (opts.client) {
      this.api = opts.client;
      this.ownsApi = false;
    } else {
      if (!opts.api) throw davError('DC_ERR_CONFIG', 'dropbox backend: give either client or api options');
      this.api = new DropboxApi(opts.api);
      this.ownsApi = true;
    }
    this.name = `dropbox:${this.paths.root || '/'}`;
    this.chunkBytes = opts.chunkBytes ?? DROPBOX_DEFAULT_CHUNK_BYTES;
    if (this.chunkBytes <= 0 || this.chunkBytes % DROPBOX_BLOCK_BYTES !== 0 || this.chunkBytes > DROPBOX_MAX_CHUNK_BYTES) {
      throw davError('DC_ERR_CONFIG', `${this.name}: chunkBytes must be a multiple of 4 MiB up to 148 MiB`);
    }
    this.listLimit = opts.listLimit ?? 2000;
  }

  private where(op: string, path: string): string {
    return `${this.name} ${op} ${path}`;
  }

  private rootEntry(): EntryInfo {
    return { name: '', path: '/', type: 'directory', size: 0 };
  }

  private toEntry(path: string, m: DropboxMetadata, name = baseName(path)): EntryInfo {
    if (m['.tag'] === 'file') {
      return {
        name, path, type: 'file', size: m.size, etag: etagOfRev(m.rev), lastModified: new Date(m.server_modified),
        contentType: contentTypeFor(name),
      };
    }
    return { name, path, type: 'directory', size: 0 };
  }

  /** get_metadata of a backend path; undefined when nothing is there. */
  private async metadata(norm: string, signal?: AbortSignal): Promise<DropboxMetadata | undefined> {
    try {
      return await this.api.rpc<DropboxMetadata>('files/get_metadata', { path: this.paths.toDropbox(norm) }, signal);
    } catch (err) {
      // not_found, and not_folder for a path below a file.
      if (hasTags(err, 'path', 'not_found') || hasTags(err, 'path', 'not_folder')) return undefined;
      throw err;
    }
  }

  /** Like stat(), but undefined when missing; the account root is faked. */
  private async lookup(norm: string, signal?: AbortSignal): Promise<EntryInfo | undefined> {
    if (this.paths.isAccountRoot(norm)) return this.rootEntry();
    const m = await this.metadata(norm, signal);
    if (!m || m['.tag'] === 'deleted') return undefined;
    const entry = this.toEntry(norm, m);
    if (norm === '/') return { ...entry, name: '', path: '/' };
    return entry;
  }

  /** The stored spelling differs from the asked one (case or Unicode form): refuse to create a second one. */
  private nameConflict(op: string, norm: string, storedName: string): DavcryptError {
    return davError('DC_ERR_NAME_CONFLICT',
      `${this.where(op, norm)}: Dropbox already holds "${storedName}", which differs only in letter case or Unicode form; `
      + 'Dropbox treats both as one name, so rename or remove the existing one first', { details: { path: norm, existing: storedName } });
  }

  private async storedName(norm: string, signal?: AbortSignal): Promise<string | undefined> {
    const m = await this.metadata(norm, signal);
    return m?.name;
  }

  /** Dropbox would create missing parents silently; the contract says DC_ERR_CONFLICT. */
  private async requireParent(op: string, norm: string, signal?: AbortSignal): Promise<void> {
    const parent = await this.lookup(parentPath(norm), signal);
    if (parent?.type !== 'directory') {
      throw davError('DC_ERR_CONFLICT', `${this.where(op, norm)}: parent folder missing`, { details: { path: norm } });
    }
  }

  /** Throws DC_ERR_NOT_FOUND. */
  async stat(path: string, opts: OpOptions = {}): Promise<EntryInfo> {
    const norm = normalizePath(path);
    const entry = await this.lookup(norm, opts.signal);
    if (!entry) throw davError('DC_ERR_NOT_FOUND', `${this.where('stat', norm)}: not found`, { details: { path: norm } });
    return entry;
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_NOT_A_COLLECTION. Pages through list_folder/continue; restarts on `reset`. */
  async list(path: string, opts: OpOptions = {}): Promise<EntryInfo[]> {
    const norm = normalizePath(path);
    const where = this.where('list', norm);
    for (let attempt = 0; ; attempt++) {
      const entries: EntryInfo[] = [];
      try {
        let page = await this.api.rpc<DropboxListFolderResult>('files/list_folder',
          { path: this.paths.toDropbox(norm), limit: this.listLimit, include_non_downloadable_files: false }, opts.signal);
        for (;;) {
          for (const m of page.entries) {
            if (m['.tag'] === 'deleted' || m.name.startsWith(TEMP_PREFIX)) continue;
            entries.push(this.toEntry(joinPath(norm, m.name), m, m.name));
          }
          if (!page.has_more) return entries;
          page = await this.api.rpc<DropboxListFolderResult>('files/list_folder/continue', { cursor: page.cursor }, opts.signal);
        }
      } catch (err) {
        // The cursor went stale mid-listing: start over (bounded).
        if (hasTags(err, 'reset') && attempt < 3) continue;
        if (hasTags(err, 'path', 'not_found')) throw davError('DC_ERR_NOT_FOUND', `${where}: not found`, { cause: err, details: { path: norm } });
        if (hasTags(err, 'path', 'not_folder')) {
          throw davError('DC_ERR_NOT_A_COLLECTION', `${where}: not a folder`, { cause: err, details: { path: norm } });
        }
        throw err;
      }
    }
  }

  /** get_metadata and list_folder side by side. Throws DC_ERR_NOT_FOUND. */
  async listWithSelf(path: string, opts: OpOptions = {}): Promise<{ self: EntryInfo; children: EntryInfo[] }> {
    const norm = normalizePath(path);
    const [self, children] = await Promise.allSettled([this.stat(norm, opts), this.list(norm, opts)]);
    if (self.status === 'rejected') throw self.reason;
    if (self.value.type !== 'directory') return { self: self.value, children: [] };
    if (children.status === 'rejected') throw children.reason;
    return { self: self.value, children: children.value };
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_IS_A_COLLECTION, DC_ERR_RANGE_NOT_SATISFIABLE, DC_ERR_PRECONDITION_FAILED. */
  async read(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    const norm = normalizePath(path);
    const where = this.where('read', norm);
    const { range, signal } = opts;
    if (norm === '/') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
    let res;
    try {
      res = await this.api.download<DropboxFileMetadata>('files/download', { path: this.paths.toDropbox(norm) },
        range ? `bytes=${range.start}-${range.end ?? ''}` : undefined, signal);
    } catch (err) {
      if (hasTags(err, 'path', 'not_found') || hasTags(err, 'path', 'not_folder')) {
        throw davError('DC_ERR_NOT_FOUND', `${where}: not found`, { cause: err, details: { path: norm } });
      }
      if (hasTags(err, 'path', 'not_file')) throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { cause: err, details: { path: norm } });
      throw err;
    }
    if (res.status === 416) {
      dropBody(res.body);
      const st = await this.stat(norm, { signal });
      if (st.type === 'directory') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
      if (st.size === 0) return { body: Readable.from([]), info: st };
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${where}: range starts at ${range?.start}, size is ${st.size}`, { details: { path: norm } });
    }
    const meta = res.result;
    // Routes that return a FileMetadata directly (download, upload) send it without '.tag'.
    if (!meta || typeof meta.rev !== 'string') {
      dropBody(res.body);
      throw davError('DC_ERR_BACKEND', `${where}: download without Dropbox-API-Result`);
    }
    const info = this.toEntry(norm, { ...meta, '.tag': 'file' });
    // A weak tag can never match strongly: read anyway, the caller compares info.etag (ReadOptions.ifMatch).
    if (opts.ifMatch !== undefined && opts.ifMatch !== '*' && !opts.ifMatch.startsWith('W/') && opts.ifMatch !== info.etag) {
      dropBody(res.body);
      throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: ETag does not match`, { details: { path: norm } });
    }
    if (!range || info.size === 0) {
      // A whole body is checked against Dropbox's content_hash as it streams by.
      const body = wrapBody(where, res.body, signal);
      if (!meta.content_hash) return { body, info };
      // pipeline, not pipe: a broken download must fail the reader, and a reader going away must free the connection.
      const checked = hashCheck(where, meta.content_hash);
      pipeline(body, checked, () => undefined);
      return { body: checked, info };
    }
    if (range.start >= info.size) {
      dropBody(res.body);
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${where}: range starts at ${range.start}, size is ${info.size}`, { details: { path: norm } });
    }
    const end = Math.min(range.end ?? info.size - 1, info.size - 1);
    if (res.status === 206) return { body: wrapBody(where, res.body, signal), info, range: { start: range.start, end } };
    // Range ignored: cut the slice from the full body.
    return { body: wrapBody(where, res.body, signal, { skip: range.start, take: end - range.start + 1 }), info, range: { start: range.start, end } };
  }

  /** Throws DC_ERR_CONFLICT, DC_ERR_IS_A_COLLECTION, DC_ERR_PRECONDITION_FAILED, DC_ERR_NAME_CONFLICT,
   *  DC_ERR_INSUFFICIENT_STORAGE, DC_ERR_ABORTED, DC_ERR_BAD_REQUEST (body length differs from opts.size). */
  async write(path: string, body: Readable, opts: WriteOptions = {}): Promise<EntryInfo> {
    const norm = normalizePath(path);
    const where = this.where('write', norm);
    const { signal } = opts;
    try {
      signal?.throwIfAborted();
    } catch (err) {
      body.destroy();
      throw davError('DC_ERR_ABORTED', `${where}: aborted`, { cause: err });
    }
    if (norm === '/') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`);
    if (baseName(norm).startsWith(TEMP_PREFIX)) throw davError('DC_ERR_FORBIDDEN', `${where}: reserved name`, { details: { path: norm } });
    let commit: DropboxCommit;
    try {
      const [parent, target] = await Promise.all([
        this.lookup(parentPath(norm), signal), this.metadata(norm, signal),
      ]);
      if (parent?.type !== 'directory') throw davError('DC_ERR_CONFLICT', `${where}: parent folder missing`, { details: { path: norm } });
      if (target && target['.tag'] === 'folder') throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { details: { path: norm } });
      if (target && target.name !== baseName(norm)) throw this.nameConflict('write', norm, target.name);
      const current = target?.['.tag'] === 'file' ? target : undefined;
      const failed = () => davError('DC_ERR_PRECONDITION_FAILED', `${where}: ETag does not match`, { details: { path: norm } });
      if (opts.ifNoneMatch === '*' && current) {
        throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: exists (If-None-Match: *)`, { details: { path: norm } });
      }
      commit = { path: this.paths.toDropbox(norm), mode: { '.tag': 'overwrite' }, autorename: false, strict_conflict: false, mute: true };
      if (opts.ifNoneMatch === '*') commit = { ...commit, mode: { '.tag': 'add' }, strict_conflict: true };
      if (opts.ifMatch !== undefined) {
        const rev = opts.ifMatch === '*' ? current?.rev : revOfEtag(opts.ifMatch);
        if (!current || rev === undefined || rev !== current.rev) throw failed();
        // Dropbox checks the rev again when it commits: a writer in between makes it a conflict.
        commit = { ...commit, mode: { '.tag': 'update', update: rev }, strict_conflict: true };
      }
      if (opts.outcome) opts.outcome.created = !current;
    } catch (err) {
      body.destroy();
      throw err;
    }
    let meta: DropboxFileMetadata;
    try {
      meta = await uploadBody(this.api, body, commit, { where, chunkBytes: this.chunkBytes, size: opts.size, signal });
    } catch (err) {
      body.destroy();
      if (hasTags(err, 'path', 'conflict', 'folder')) throw davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { cause: err, details: { path: norm } });
      if (hasTags(err, 'path', 'conflict')) {
        throw davError('DC_ERR_PRECONDITION_FAILED', `${where}: changed meanwhile (${commit.mode['.tag']} conflict)`, { cause: err, details: { path: norm } });
      }
      throw err;
    }
    return this.toEntry(norm, { ...meta, '.tag': 'file' });
  }

  /** Throws DC_ERR_EXISTS, DC_ERR_CONFLICT (missing parent), DC_ERR_NAME_CONFLICT. */
  async mkdir(path: string, opts: OpOptions = {}): Promise<void> {
    const norm = normalizePath(path);
    const where = this.where('mkdir', norm);
    if (norm === '/') throw davError('DC_ERR_EXISTS', `${where}: the root exists`);
    if (baseName(norm).startsWith(TEMP_PREFIX)) throw davError('DC_ERR_FORBIDDEN', `${where}: reserved name`, { details: { path: norm } });
    await this.requireParent('mkdir', norm, opts.signal);
    try {
      await this.api.rpc('files/create_folder_v2', { path: this.paths.toDropbox(norm), autorename: false }, opts.signal);
    } catch (err) {
      if (hasTags(err, 'path', 'conflict')) {
        const stored = await this.storedName(norm, opts.signal).catch(() => undefined);
        if (stored !== undefined && stored !== baseName(norm)) throw this.nameConflict('mkdir', norm, stored);
        throw davError('DC_ERR_EXISTS', `${where}: already exists`, { cause: err, details: { path: norm } });
      }
      throw err;
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_FORBIDDEN (the root). */
  async delete(path: string, opts: OpOptions = {}): Promise<void> {
    const norm = normalizePath(path);
    const where = this.where('delete', norm);
    if (norm === '/') throw davError('DC_ERR_FORBIDDEN', `${where}: refusing to delete the root`);
    try {
      await this.api.rpc('files/delete_v2', { path: this.paths.toDropbox(norm) }, opts.signal);
    } catch (err) {
      if (hasTags(err, 'path_lookup', 'not_found') || hasTags(err, 'path_lookup', 'not_folder')) {
        throw davError('DC_ERR_NOT_FOUND', `${where}: not found`, { cause: err, details: { path: norm } });
      }
      throw err;
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN. A case-only rename goes via a temp name. */
  async move(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    await transferEntry(this.transferContext(), 'move', normalizePath(from), normalizePath(to), opts);
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN. */
  async copy(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    await transferEntry(this.transferContext(), 'copy', normalizePath(from), normalizePath(to), opts);
  }

  private transferContext(): TransferContext {
    return {
      name: this.name, api: this.api, paths: this.paths,
      lookup: (p, signal) => this.lookup(p, signal), metadata: (p, signal) => this.metadata(p, signal),
    };
  }

  /** Account-wide numbers (Dropbox has no per-folder quota). Throws DC_ERR_NOT_FOUND for a missing folder. */
  async quota(path: string, opts: OpOptions = {}): Promise<QuotaInfo> {
    await this.stat(path, opts);
    const usage = await this.api.rpc<{
      used: number; allocation: { '.tag': string; allocated?: number; used?: number };
    }>('users/get_space_usage', undefined, opts.signal);
    const a = usage.allocation;
    if (typeof a.allocated !== 'number') return { used: usage.used };
    const usedAgainst = a['.tag'] === 'team' && typeof a.used === 'number' ? a.used : usage.used;
    return { used: usage.used, available: Math.max(0, a.allocated - usedAgainst) };
  }

  async close(): Promise<void> {
    if (this.ownsApi) await this.api.close();
  }
}

/** Passes a body through and fails it at the end when its content_hash differs from Dropbox's. */
function hashCheck(where: string, expected: string): Transform {
  const hasher = new DropboxContentHasher();
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = hasher.digest();
      if (got !== expected) cb(davError('DC_ERR_BACKEND', `${where}: downloaded body does not match Dropbox's content_hash`));
      else cb();
    },
  });
}

export interface CreateDropboxBackendOptions extends DropboxBackendOptions {
  /** Create the root folder when missing (per-user homes). Default false. */
  createRoot?: boolean;
}

/** Creates a Dropbox backend and checks that its root is a folder. Throws DC_ERR_NOT_FOUND, DC_ERR_CONFIG, API errors. */
export async function createDropboxBackend(opts: CreateDropboxBackendOptions): Promise<DropboxBackend> {
  const backend = new DropboxBackend(opts);
  try {
    const root = await backend.stat('/').catch(async (err: unknown) => {
      if (!opts.createRoot || !isDavcryptError(err, 'DC_ERR_NOT_FOUND')) throw err;
      // Dropbox creates the missing parents of a per-user root (/davcrypt/alice) itself.
      await backend.api.rpc('files/create_folder_v2', { path: backend.paths.root, autorename: false }).catch((e: unknown) => {
        if (!hasTags(e, 'path', 'conflict', 'folder')) throw e;
      });
      return backend.stat('/');
    });
    if (root.type !== 'directory') throw davError('DC_ERR_CONFIG', `${backend.name}: the root is a file, not a folder`);
  } catch (err) {
    await backend.close();
    throw err;
  }
  return backend;
}
