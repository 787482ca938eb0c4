// The one storage interface every backend implements (local folder, WebDAV over
// undici, and the EncryptingBackend decorator). Paths are backend-relative,
// decoded POSIX paths: always start with '/', never end with '/' (except the
// root '/'), never contain '.' or '..' segments. Errors are DavcryptErrors
// (src/errors.ts) with the codes each method documents.
import type { Readable } from 'node:stream';
import type { DavcryptError } from '../errors.js';

export type EntryType = 'file' | 'directory';

/** One file or folder as the backend reports it. Sizes are the backend's (cipher side for the raw store). */
export interface EntryInfo {
  /** Last path segment ('' for the root). */
  name: string;
  /** Full backend-relative path, normalized as described above. */
  path: string;
  type: EntryType;
  /** Bytes of the body as stored (0 for folders). */
  size: number;
  /** Strong or weak ETag exactly as the backend gives it, quotes included (e.g. '"abc"', 'W/"x"'). */
  etag?: string;
  lastModified?: Date;
  creationDate?: Date;
  contentType?: string;
  /**
   * Set only by EncryptingBackend.stat: the stored bytes cannot be served (no DAVCRYPT magic in a
   * mount with `plaintext: refuse`, a damaged header, a size no file with this header has). A read
   * throws this same error; HEAD and COPY answer with it.
   */
  integrityError?: DavcryptError;
}

/** An inclusive byte range; `end` undefined means "to the end of the body". */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface OpOptions {
  signal?: AbortSignal;
}

export interface ReadOptions extends OpOptions {
  range?: ByteRange;
  /**
   * Read only if the current ETag matches (DC_ERR_PRECONDITION_FAILED otherwise). A hint: a backend
   * that cannot check it (or a weak tag) reads anyway, so callers still compare `info.etag` of the result.
   */
  ifMatch?: string;
}

export interface ReadResult {
  /** The body, or only the requested range of it. */
  body: Readable;
  /** Metadata of the whole file (size = whole stored size, not the range length). */
  info: EntryInfo;
  /** The inclusive range actually returned (clamped to the size), when a range was asked. */
  range?: { start: number; end: number };
}

export interface WriteOptions extends OpOptions {
  /** Body length in bytes when known (sent as Content-Length); omitted means unknown. */
  size?: number;
  /** Write only if the current ETag matches (optimistic concurrency); DC_ERR_PRECONDITION_FAILED otherwise. */
  ifMatch?: string;
  /** Write only if nothing exists at the path yet; DC_ERR_PRECONDITION_FAILED otherwise. */
  ifNoneMatch?: '*';
  /** Content type to record where the backend keeps one. */
  contentType?: string;
  /**
   * The caller can do without the new ETag: a backend whose write answer carries none may return
   * `etag` undefined instead of asking for it with an extra request (RFC 4918 lets a PUT omit it).
   */
  etagOptional?: boolean;
  /** Filled in by backends with capabilities.writeReportsCreated: whether the write created the path. */
  outcome?: WriteOutcome;
}

/** What a write tells beyond the new entry (see WriteOptions.outcome). */
export interface WriteOutcome {
  /** true: nothing existed at the path before; false: a file was replaced; undefined: not known. */
  created?: boolean;
  /**
   * true: the returned etag names exactly the bytes this write stored (it came with the store's own
   * answer to the write, or was read together with those bytes). Otherwise it came from a later
   * look-up that a concurrent writer may have overtaken, and caches must not bind to it.
   */
  etagConfirmed?: boolean;
}

export interface TransferOptions extends OpOptions {
  /** Replace an existing target (default false: DC_ERR_EXISTS if the target exists). */
  overwrite?: boolean;
}

export interface QuotaInfo {
  /** Bytes still available, when the backend knows. */
  available?: number;
  /** Bytes used, when the backend knows. */
  used?: number;
}

/** What a backend can do natively; a decorator ANDs its own with the wrapped backend's (as rclone's Features). */
export interface BackendCapabilities {
  /** read() honours ranges without reading the whole body. */
  rangeRead: boolean;
  /** move() and copy() happen on the server side. */
  serverSideMove: boolean;
  serverSideCopy: boolean;
  /** setModified() is supported. */
  setModified: boolean;
  /** quota() returns real numbers. */
  quota: boolean;
  /** write() fills WriteOptions.outcome.created from the store's own answer (no extra request). */
  writeReportsCreated?: boolean;
  /**
   * Names that differ only in letter case or Unicode form (NFC/NFD) are the same entry (Dropbox):
   * stat('/A') may find '/a', and creating a second such name throws DC_ERR_NAME_CONFLICT. The
   * server treats a MOVE between two such spellings as a rename, never as "target exists".
   */
  caseInsensitive?: boolean;
}

export interface Backend {
  /** Human-readable name for logs and errors ("local:/srv/data", "webdav:https://host/dav/"); never credentials. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  /** Throws DC_ERR_NOT_FOUND. */
  stat(path: string, opts?: OpOptions): Promise<EntryInfo>;

  /** Direct children of a folder (not the folder itself). Throws DC_ERR_NOT_FOUND, DC_ERR_NOT_A_COLLECTION. */
  list(path: string, opts?: OpOptions): Promise<EntryInfo[]>;

  /**
   * Optional: stat and list in one go (one request where the store allows it, e.g. PROPFIND Depth 1).
   * `self` is what stat(path) returns; `children` is list(path) for a folder and [] for a file.
   * Throws DC_ERR_NOT_FOUND.
   */
  listWithSelf?(path: string, opts?: OpOptions): Promise<{ self: EntryInfo; children: EntryInfo[] }>;

  /**
   * Optional: listWithSelf handing each entry to `onEntry` as it is read, so a large folder is never
   * held in memory twice. `self` marks the entry of `path` itself; it comes exactly once, not always
   * first. Children come only when `path` is a folder (when it turns out to be a file, any children
   * already handed over must be dropped). Throws as listWithSelf; when it throws, ignore what came.
   */
  listEach?(path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts?: OpOptions): Promise<void>;

  /** Streams a file body, optionally one byte range. Throws DC_ERR_NOT_FOUND, DC_ERR_IS_A_COLLECTION,
   *  DC_ERR_RANGE_NOT_SATISFIABLE (start beyond the end of a non-empty body). */
  read(path: string, opts?: ReadOptions): Promise<ReadResult>;

  /** Writes a whole file from a stream; the previous version stays intact until the body has fully
   *  arrived (an aborted or failed write leaves it unchanged). Returns the new entry's metadata.
   *  Throws DC_ERR_CONFLICT (missing parent), DC_ERR_IS_A_COLLECTION, DC_ERR_PRECONDITION_FAILED,
   *  DC_ERR_INSUFFICIENT_STORAGE, DC_ERR_ABORTED. */
  write(path: string, body: Readable, opts?: WriteOptions): Promise<EntryInfo>;

  /** Creates one folder. Throws DC_ERR_EXISTS, DC_ERR_CONFLICT (missing parent). */
  mkdir(path: string, opts?: OpOptions): Promise<void>;

  /** Deletes a file or a whole folder tree. Throws DC_ERR_NOT_FOUND. */
  delete(path: string, opts?: OpOptions): Promise<void>;

  /** Moves a file or folder. Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS (target exists, no overwrite),
   *  DC_ERR_CONFLICT (target parent missing). */
  move(from: string, to: string, opts?: TransferOptions): Promise<void>;

  /** Copies a file or folder tree. Same errors as move(). */
  copy(from: string, to: string, opts?: TransferOptions): Promise<void>;

  /** Sets a file's modification time where capabilities.setModified. */
  setModified?(path: string, mtime: Date, opts?: OpOptions): Promise<void>;

  /** Quota of the folder where capabilities.quota. */
  quota?(path: string, opts?: OpOptions): Promise<QuotaInfo>;

  /** Releases connections and handles. */
  close(): Promise<void>;
}
