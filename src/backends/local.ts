// The local-folder backend on node:fs: the embedded default store. Writes go to a
// hidden temp file in the target folder and are renamed into place only after the
// whole body arrived; no path (by '..' or by symlink) may reach outside the root.
// Must not touch anything outside `root`, nor know about encryption.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type BigIntStats, type Dirent } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { davError, isDavcryptError, type DavcryptError } from '../errors.js';
import { UsageCache } from './local-usage.js';
import { baseName, isSameOrInside, joinPath, normalizePath, parentPath } from './paths.js';
import type {
  Backend, BackendCapabilities, EntryInfo, OpOptions, QuotaInfo, ReadOptions, ReadResult, TransferOptions, WriteOptions,
} from './types.js';
import { TEMP_NAME, TEMP_PREFIX } from './layout.js';

// Stored files may be password envelopes (keyring.json) or ciphertext: no other local user reads them.
// umask can only remove bits, so these modes hold whatever the umask.
const FILE_MODE = 0o600;
const FOLDER_MODE = 0o700;


export interface LocalBackendOptions {
  /** Create the root folder (recursively) on first use when missing. Default true. */
  createRoot?: boolean;
}

const CONTENT_TYPES: Record<string, string> = {
  '.txt': 'text/plain', '.md': 'text/markdown', '.html': 'text/html', '.htm': 'text/html', '.css': 'text/css',
  '.js': 'text/javascript', '.json': 'application/json', '.xml': 'application/xml', '.csv': 'text/csv',
  '.pdf': 'application/pdf', '.zip': 'application/zip', '.gz': 'application/gzip', '.tar': 'application/x-tar',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.svg': 'image/svg+xml', '.mp3': 'audio/mpeg', '.mp4': 'video/mp4', '.mov': 'video/quicktime',
  '.doc': 'application/msword', '.xls': 'application/vnd.ms-excel',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.odt': 'application/vnd.oasis.opendocument.text', '.ics': 'text/calendar', '.vcf': 'text/vcard',
};

/** Content type guessed from the file name's extension (application/octet-stream when unknown). */
export function contentTypeFor(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** Quoted strong ETag from inode, size and mtime (ns): changes on every rename-into-place write. */
function etagOf(st: BigIntStats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class LocalBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities = {
    rangeRead: true, serverSideMove: true, serverSideCopy: true, setModified: true, quota: true,
  };
  private readonly root: string;
  private rootReal?: Promise<string>;
  private usage?: UsageCache;

  constructor(root: string, private readonly opts: LocalBackendOptions = {}) {
    this.root = root.length > 1 && root.endsWith(sep) ? root.slice(0, -1) : root;
    this.name = `local:${this.root}`;
  }

  /** The real path of the root, creating the root on first use. */
  private realRoot(): Promise<string> {
    this.rootReal ??= (async () => {
      if (this.opts.createRoot !== false) await fsp.mkdir(this.root, { recursive: true, mode: FOLDER_MODE });
      return fsp.realpath(this.root);
    })();
    this.rootReal.catch(() => { this.rootReal = undefined; });
    return this.rootReal;
  }

  private fail(err: unknown, op: string, path: string): DavcryptError {
    if (isDavcryptError(err)) return err;
    const where = `${this.name} ${op} ${path}`;
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return davError('DC_ERR_ABORTED', `${where}: aborted`, { cause: err });
    switch (errnoOf(err)) {
      case 'ENOENT': return davError('DC_ERR_NOT_FOUND', `${where}: not found`, { cause: err, details: { path } });
      case 'EEXIST': case 'ENOTEMPTY': return davError('DC_ERR_EXISTS', `${where}: already exists`, { cause: err, details: { path } });
      case 'ENOTDIR': return davError('DC_ERR_CONFLICT', `${where}: a parent is not a folder`, { cause: err, details: { path } });
      case 'EISDIR': return davError('DC_ERR_IS_A_COLLECTION', `${where}: is a folder`, { cause: err, details: { path } });
      case 'EACCES': case 'EPERM': case 'EROFS': return davError('DC_ERR_FORBIDDEN', `${where}: permission denied`, { cause: err, details: { path } });
      case 'ENOSPC': case 'EDQUOT': return davError('DC_ERR_INSUFFICIENT_STORAGE', `${where}: out of space`, { cause: err, details: { path } });
      default: return davError('DC_ERR_BACKEND', `${where}: ${(err as Error)?.message ?? String(err)}`, { cause: err, details: { path } });
    }
  }

  private notFound(op: string, path: string): DavcryptError {
    return davError('DC_ERR_NOT_FOUND', `${this.name} ${op} ${path}: not found`, { details: { path } });
  }

  /** Absolute path of an existing entry whose real location is inside the root; DC_ERR_NOT_FOUND / DC_ERR_FORBIDDEN. */
  private async existing(path: string, op: string): Promise<{ abs: string; norm: string }> {
    const norm = normalizePath(path);
    if (baseName(norm).startsWith(TEMP_PREFIX)) throw this.notFound(op, norm);
    const rootReal = await this.realRoot();
    const abs = join(this.root, norm);
    let real: string;
    try {
      real = await fsp.realpath(abs);
    } catch (err) {
      throw this.fail(err, op, norm);
    }
    if (real !== rootReal && !real.startsWith(rootReal + sep)) {
      throw davError('DC_ERR_FORBIDDEN', `${this.name} ${op} ${norm}: resolves outside the root`, { details: { path: norm } });
    }
    return { abs, norm };
  }

  /** Absolute path for a new entry: its parent must be an existing folder inside the root (DC_ERR_CONFLICT otherwise). */
  private async creatable(path: string, op: string): Promise<{ abs: string; norm: string; parentAbs: string }> {
    const norm = normalizePath(path);
    if (norm === '/') throw davError('DC_ERR_FORBIDDEN', `${this.name} ${op}: not allowed on the root`);
    if (baseName(norm).startsWith(TEMP_PREFIX)) {
      throw davError('DC_ERR_FORBIDDEN', `${this.name} ${op} ${norm}: reserved name`, { details: { path: norm } });
    }
    let parent: { abs: string };
    try {
      parent = await this.existing(parentPath(norm), op);
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_CONFLICT')) {
        throw davError('DC_ERR_CONFLICT', `${this.name} ${op} ${norm}: parent folder missing`, { cause: err, details: { path: norm } });
      }
      throw err;
    }
    const st = await fsp.stat(parent.abs);
    if (!st.isDirectory()) throw davError('DC_ERR_CONFLICT', `${this.name} ${op} ${norm}: parent is not a folder`, { details: { path: norm } });
    return { abs: join(this.root, norm), norm, parentAbs: parent.abs };
  }

  private info(norm: string, st: BigIntStats): EntryInfo {
    const isDir = st.isDirectory();
    const name = baseName(norm);
    return {
      name, path: norm, type: isDir ? 'directory' : 'file', size: isDir ? 0 : Number(st.size),
      etag: etagOf(st), lastModified: new Date(Number(st.mtimeMs)), creationDate: new Date(Number(st.birthtimeMs)),
      contentType: isDir ? undefined : contentTypeFor(name),
    };
  }

  /** Lstat of a path that does not follow a final symlink; undefined when missing. */
  private async lstatOrUndefined(abs: string): Promise<BigIntStats | undefined> {
    try {
      return await fsp.lstat(abs, { bigint: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_FORBIDDEN. */
  async stat(path: string, opts: OpOptions = {}): Promise<EntryInfo> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'stat');
    try {
      return this.info(norm, await fsp.stat(abs, { bigint: true }));
    } catch (err) {
      throw this.fail(err, 'stat', norm);
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_NOT_A_COLLECTION. Skips temp files and symlinks leading outside the root. */
  async list(path: string, opts: OpOptions = {}): Promise<EntryInfo[]> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'list');
    let names: string[];
    try {
      names = await fsp.readdir(abs);
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') throw davError('DC_ERR_NOT_A_COLLECTION', `${this.name} list ${norm}: not a folder`, { details: { path: norm } });
      throw this.fail(err, 'list', norm);
    }
    const entries: EntryInfo[] = [];
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) continue;
      opts.signal?.throwIfAborted();
      const childPath = joinPath(norm, name);
      try {
        const child = await this.existing(childPath, 'list');
        entries.push(this.info(childPath, await fsp.stat(child.abs, { bigint: true })));
      } catch (err) {
        // Vanished meanwhile, dangling or escaping symlink: not part of this backend.
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_FORBIDDEN') || errnoOf(err) === 'ENOENT') continue;
        throw this.fail(err, 'list', childPath);
      }
    }
    return entries;
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_IS_A_COLLECTION, DC_ERR_RANGE_NOT_SATISFIABLE, DC_ERR_FORBIDDEN. */
  async read(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'read');
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(abs, 'r');
    } catch (err) {
      throw this.fail(err, 'read', norm);
    }
    try {
      const st = await handle.stat({ bigint: true });
      if (st.isDirectory()) throw davError('DC_ERR_IS_A_COLLECTION', `${this.name} read ${norm}: is a folder`, { details: { path: norm } });
      const info = this.info(norm, st);
      let range: { start: number; end: number } | undefined;
      if (opts.range && info.size > 0) {
        const { start } = opts.range;
        if (start >= info.size) {
          throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${this.name} read ${norm}: range starts at ${start}, size is ${info.size}`,
            { details: { path: norm, size: info.size } });
        }
        range = { start, end: Math.min(opts.range.end ?? info.size - 1, info.size - 1) };
      }
      const body = info.size === 0
        ? (await handle.close(), Readable.from([]))
        : createReadStream('', { fd: handle, start: range?.start, end: range?.end, signal: opts.signal, autoClose: true });
      return { body, info, range };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw this.fail(err, 'read', norm);
    }
  }

  /** Throws DC_ERR_CONFLICT, DC_ERR_IS_A_COLLECTION, DC_ERR_PRECONDITION_FAILED, DC_ERR_INSUFFICIENT_STORAGE,
   *  DC_ERR_ABORTED (signal or a failing body stream), DC_ERR_BAD_REQUEST (body length differs from opts.size). */
  async write(path: string, body: Readable, opts: WriteOptions = {}): Promise<EntryInfo> {
    const { signal } = opts;
    // Whichever side fails first is the cause: pipeline then destroys the other side with the same
    // error, so a full disk must not be read as a failing body (a client abort), nor the reverse.
    let bodyError: unknown;
    let sinkError: unknown;
    const onBodyError = (err: unknown) => { if (sinkError === undefined || err !== sinkError) bodyError ??= err; };
    body.on('error', onBodyError);
    let tmp: string | undefined;
    let norm = path;
    try {
      signal?.throwIfAborted();
      const target = await this.creatable(path, 'write');
      norm = target.norm;
      const current = await this.lstatOrUndefined(target.abs);
      if (current?.isDirectory()) throw davError('DC_ERR_IS_A_COLLECTION', `${this.name} write ${norm}: is a folder`, { details: { path: norm } });
      this.checkPreconditions(norm, current, opts);
      tmp = join(target.parentAbs, TEMP_PREFIX + randomBytes(8).toString('hex'));
      let plainBytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) { plainBytes += chunk.length; cb(null, chunk); },
      });
      const sink = createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE });
      sink.once('error', (err) => { if (err !== bodyError) sinkError ??= err; });
      await pipeline(body, counter, sink, { signal });
      if (opts.size !== undefined && plainBytes !== opts.size) {
        throw davError('DC_ERR_BAD_REQUEST', `${this.name} write ${norm}: body had ${plainBytes} bytes, ${opts.size} declared`,
          { details: { path: norm } });
      }
      signal?.throwIfAborted();
      // Re-check just before the swap to narrow the window in which a concurrent writer could slip in.
      this.checkPreconditions(norm, await this.lstatOrUndefined(target.abs), opts);
      // The ETag of our bytes, read from the temp file only we write: a stat after the rename could
      // see a concurrent writer's version (same inode-size-mtime survive the rename).
      const written = await fsp.stat(tmp, { bigint: true });
      await fsp.rename(tmp, target.abs);
      tmp = undefined;
      if (opts.outcome) opts.outcome.etagConfirmed = true;
      return this.info(norm, written);
    } catch (err) {
      if (sinkError !== undefined && !signal?.aborted) throw this.fail(sinkError, 'write', norm);
      if (bodyError !== undefined && !isDavcryptError(bodyError)) {
        throw davError('DC_ERR_ABORTED', `${this.name} write ${norm}: body stream failed`, { cause: bodyError, details: { path: norm } });
      }
      throw this.fail(bodyError ?? err, 'write', norm);
    } finally {
      body.off('error', onBodyError);
      if (tmp !== undefined) await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  private checkPreconditions(norm: string, current: BigIntStats | undefined, opts: WriteOptions): void {
    if (opts.ifNoneMatch === '*' && current) {
      throw davError('DC_ERR_PRECONDITION_FAILED', `${this.name} write ${norm}: exists (If-None-Match: *)`, { details: { path: norm } });
    }
    if (opts.ifMatch !== undefined && (!current || (opts.ifMatch !== '*' && opts.ifMatch !== etagOf(current)))) {
      throw davError('DC_ERR_PRECONDITION_FAILED', `${this.name} write ${norm}: ETag does not match`, { details: { path: norm } });
    }
  }

  /** Throws DC_ERR_EXISTS, DC_ERR_CONFLICT (missing parent), DC_ERR_FORBIDDEN. */
  async mkdir(path: string, opts: OpOptions = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    const norm = normalizePath(path);
    if (norm === '/') { await this.realRoot(); throw davError('DC_ERR_EXISTS', `${this.name} mkdir /: the root exists`); }
    const { abs } = await this.creatable(norm, 'mkdir');
    try {
      await fsp.mkdir(abs, { mode: FOLDER_MODE });
    } catch (err) {
      throw this.fail(err, 'mkdir', norm);
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_FORBIDDEN (the root itself). */
  async delete(path: string, opts: OpOptions = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'delete');
    if (norm === '/') throw davError('DC_ERR_FORBIDDEN', `${this.name} delete /: refusing to delete the root`);
    try {
      await fsp.rm(abs, { recursive: true });
    } catch (err) {
      throw this.fail(err, 'delete', norm);
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN (same path, or into itself). */
  async move(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    const { src, dst } = await this.prepareTransfer('move', from, to, opts);
    try {
      await fsp.rename(src.abs, dst.abs);
    } catch (err) {
      throw this.fail(err, 'move', src.norm);
    }
  }

  /** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS, DC_ERR_CONFLICT, DC_ERR_FORBIDDEN (same path, or into itself). */
  async copy(from: string, to: string, opts: TransferOptions = {}): Promise<void> {
    const { src, dst } = await this.prepareTransfer('copy', from, to, opts);
    const st = await fsp.stat(src.abs);
    try {
      if (st.isDirectory()) {
        await fsp.cp(src.abs, dst.abs, {
          recursive: true, errorOnExist: true, force: false, dereference: false, verbatimSymlinks: true,
          filter: (source) => !source.slice(source.lastIndexOf(sep) + 1).startsWith(TEMP_PREFIX),
        });
      } else {
        // Copy to a temp name then rename, so a reader never sees a half-copied file.
        const tmp = join(dst.parentAbs, TEMP_PREFIX + randomBytes(8).toString('hex'));
        try {
          await fsp.copyFile(src.abs, tmp, 0);
          await fsp.rename(tmp, dst.abs);
        } finally {
          await fsp.rm(tmp, { force: true }).catch(() => undefined);
        }
      }
    } catch (err) {
      throw this.fail(err, 'copy', src.norm);
    }
  }

  private async prepareTransfer(op: string, from: string, to: string, opts: TransferOptions) {
    opts.signal?.throwIfAborted();
    const src = await this.existing(from, op);
    const dst = await this.creatable(to, op);
    if (src.norm === '/' || isSameOrInside(src.norm, dst.norm)) {
      throw davError('DC_ERR_FORBIDDEN', `${this.name} ${op} ${src.norm} -> ${dst.norm}: target is the source or inside it`,
        { details: { path: src.norm, to: dst.norm } });
    }
    const existingTarget = await this.lstatOrUndefined(dst.abs);
    if (existingTarget) {
      if (!opts.overwrite) {
        throw davError('DC_ERR_EXISTS', `${this.name} ${op} ${src.norm} -> ${dst.norm}: target exists`, { details: { path: dst.norm } });
      }
      await fsp.rm(dst.abs, { recursive: true, force: true });
    }
    return { src, dst };
  }

  /** Throws DC_ERR_NOT_FOUND. */
  async setModified(path: string, mtime: Date, opts: OpOptions = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'setModified');
    try {
      const st = await fsp.stat(abs);
      await fsp.utimes(abs, st.atime, mtime);
    } catch (err) {
      throw this.fail(err, 'setModified', norm);
    }
  }

  /**
   * used: the bytes stored below this backend's root (a user's own home, or the shared mount), never
   * the file system's usage; available: the file system's free space (what can still be written).
   * Throws DC_ERR_NOT_FOUND.
   */
  async quota(path: string, opts: OpOptions = {}): Promise<QuotaInfo> {
    opts.signal?.throwIfAborted();
    const { abs, norm } = await this.existing(path, 'quota');
    try {
      const s = await fsp.statfs(abs);
      this.usage ??= new UsageCache(await this.realRoot());
      return { available: s.bavail * s.bsize, used: await this.usage.bytes() };
    } catch (err) {
      throw this.fail(err, 'quota', norm);
    }
  }

  async close(): Promise<void> {
    // Nothing pooled: every read closes its own descriptor.
  }
}

/**
 * Removes davcrypt temp files (TEMP_NAME) left below `folder` by a gateway that was killed
 * mid-write, those not modified for `minAgeMs` (0: all). Walks real folders only (never follows
 * symlinks), never touches any other name. Returns how many were removed; never throws.
 */
export async function removeStaleTempFiles(folder: string, minAgeMs = 0, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  const now = Date.now();
  const walk = async (dir: string): Promise<void> => {
    if (signal?.aborted) return;
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) await walk(abs);
      else if (entry.isFile() && TEMP_NAME.test(entry.name)) {
        try {
          const st = await fsp.lstat(abs);
          if (minAgeMs > 0 && now - st.mtimeMs < minAgeMs) continue;
          await fsp.rm(abs, { force: true });
          removed += 1;
        } catch {
          // vanished meanwhile (its upload finished): fine
        }
      }
    }
  };
  await walk(folder);
  return removed;
}

/** Creates a local backend and its root folder (recursively) when missing. Throws DC_ERR_FORBIDDEN / DC_ERR_BACKEND. */
export async function createLocalBackend(root: string, opts: LocalBackendOptions = {}): Promise<LocalBackend> {
  const backend = new LocalBackend(root, opts);
  try {
    await backend.stat('/');
  } catch (err) {
    throw isDavcryptError(err) ? err : davError('DC_ERR_BACKEND', `local:${root}: cannot open root`, { cause: err });
  }
  return backend;
}
