// The Backend a share link's recipient sees: the owner's mount narrowed to the shared
// folder (or to a folder holding just the shared file) and to the link's scope:
// read (stat/list/read), drop (only new files can be written; nothing listed or read)
// or readwrite (everything inside the shared folder). Paths are mapped in and out, so
// nothing outside the shared item can be named. Downloads and uploads are reported
// through hooks (download limit, audit). Does no I/O itself beyond the inner backend.
import type { Readable } from 'node:stream';
import type { Backend, EntryInfo, OpOptions, ReadOptions, ReadResult, TransferOptions, WriteOptions } from '../backends/index.js';
import { davError, isDavcryptError } from '../errors.js';
import { withHttpStatus } from '../server/error-status.js';
import type { ShareScope } from './share-store.js';

export interface ShareView {
  scope: ShareScope;
  /** Backend path of the shared folder, or of the shared file's folder when `file` is set. */
  root: string;
  /** A file share: the only name visible in `root`. */
  file?: string;
  /** Called before a whole-file (or first-range) read; throws to refuse (download limit). */
  beforeDownload(path: string): Promise<void>;
  /** Called after a file arrived through the link. */
  afterUpload(path: string): void;
}

function join(root: string, path: string): string {
  if (path === '/' || path === '') return root;
  return root === '/' ? path : root + path;
}

export class ShareBackend implements Backend {
  readonly name: string;
  readonly capabilities: Backend['capabilities'];

  constructor(private readonly inner: Backend, private readonly view: ShareView) {
    this.name = `share:${inner.name}`;
    this.capabilities = { ...inner.capabilities, quota: false };
  }

  /** Inner path of a share path; DC_ERR_NOT_FOUND for anything a file share does not show. */
  private inPath(path: string): string {
    const { file, root } = this.view;
    if (file !== undefined && path !== '/' && path !== '/' + file) throw davError('DC_ERR_NOT_FOUND', 'not found');
    return join(root, path);
  }

  private outEntry(entry: EntryInfo, path: string): EntryInfo {
    return { ...entry, path, name: path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1) };
  }

  private allow(write: boolean): void {
    const { scope } = this.view;
    if (write ? scope === 'read' : scope === 'drop') throw davError('DC_ERR_FORBIDDEN', `this link does not allow ${write ? 'changes' : 'reading'}`);
  }

  async stat(path: string, opts?: OpOptions): Promise<EntryInfo> {
    if (this.view.scope === 'drop' && path !== '/') throw davError('DC_ERR_NOT_FOUND', 'not found');
    return this.outEntry(await this.inner.stat(this.inPath(path), opts), path);
  }

  async list(path: string, opts?: OpOptions): Promise<EntryInfo[]> {
    if (this.view.scope === 'drop') return [];
    const entries = await this.inner.list(this.inPath(path), opts);
    const base = path === '/' ? '' : path;
    return entries
      .filter((e) => this.view.file === undefined || (path === '/' && e.name === this.view.file))
      .map((e) => this.outEntry(e, `${base}/${e.name}`));
  }

  async read(path: string, opts?: ReadOptions): Promise<ReadResult> {
    this.allow(false);
    const inner = this.inPath(path);
    if (!opts?.range || opts.range.start === 0) await this.view.beforeDownload(path);
    const result = await this.inner.read(inner, opts);
    return { ...result, info: this.outEntry(result.info, path) };
  }

  async write(path: string, body: Readable, opts?: WriteOptions): Promise<EntryInfo> {
    if (this.view.scope === 'read' || this.view.file !== undefined) throw davError('DC_ERR_FORBIDDEN', 'this link does not allow uploads');
    const inner = this.inPath(path);
    if (this.view.scope === 'drop') {
      // A file drop adds files; it never replaces one (the recipient cannot see what is there).
      const exists = await this.inner.stat(inner, opts).then(() => true, (err: unknown) => {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return false;
        throw err;
      });
      if (exists) throw withHttpStatus(davError('DC_ERR_EXISTS', 'a file with this name was already dropped'), 409);
    }
    const info = await this.inner.write(inner, body, opts);
    this.view.afterUpload(path);
    return this.outEntry(info, path);
  }

  async mkdir(path: string, opts?: OpOptions): Promise<void> {
    this.readwrite();
    await this.inner.mkdir(this.inPath(path), opts);
  }

  async delete(path: string, opts?: OpOptions): Promise<void> {
    this.readwrite();
    if (path === '/') throw davError('DC_ERR_FORBIDDEN', 'the shared folder itself cannot be deleted');
    await this.inner.delete(this.inPath(path), opts);
  }

  async move(from: string, to: string, opts?: TransferOptions): Promise<void> {
    this.readwrite();
    if (from === '/') throw davError('DC_ERR_FORBIDDEN', 'the shared folder itself cannot be moved');
    await this.inner.move(this.inPath(from), this.inPath(to), opts);
  }

  async copy(from: string, to: string, opts?: TransferOptions): Promise<void> {
    this.readwrite();
    await this.inner.copy(this.inPath(from), this.inPath(to), opts);
  }

  async close(): Promise<void> {
    // The inner backend is the owner's mount, shared with her sessions: not ours to close.
  }

  private readwrite(): void {
    if (this.view.scope !== 'readwrite' || this.view.file !== undefined) throw davError('DC_ERR_FORBIDDEN', 'this link does not allow changes');
  }
}
