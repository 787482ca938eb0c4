// EncryptingBackend: the decorator that encrypts file bodies on write and decrypts
// them on read (docs/DESIGN.md §2, §3, §5), over any Backend. Names, folders, moves and
// copies pass through; sizes are reported on the plaintext side. A stored file without
// the DAVCRYPT magic is an error (plaintext: refuse, the default: the backend may have
// put it there) or served as it is (plaintext: read, for data from before encryption);
// a file with the magic is never served as plaintext. Holds no keys on disk and does
// no I/O of its own beyond calls to the wrapped backend.
import { PassThrough, Readable } from 'node:stream';
import {
  DEFAULT_SEGMENT_EXPONENT,
  FileKeyCache,
  HEADER_BYTES,
  MAGIC,
  cipherSizeForPlain,
  createEncryptStream,
  createSegmentDecryptStream,
  decryptPlainRange,
  hasMagic,
  parseHeader,
  planPlainRange,
  plainSizeForCipher,
  type FileHeader,
  type FileKeys,
  type RandomSource,
} from '../crypto/index.js';
import { davError, isDavcryptError, type DavcryptError } from '../errors.js';
import type { MountKeySet } from '../crypto/index.js';
import type {
  Backend,
  BackendCapabilities,
  EntryInfo,
  OpOptions,
  QuotaInfo,
  ReadOptions,
  ReadResult,
  TransferOptions,
  WriteOptions,
} from './types.js';

/** What is known about one stored version of a file (keyed by path + ETag). */
export interface EncryptionMeta {
  encrypted: boolean;
  /** The first 65 stored bytes (the header; fewer if the file is shorter), standard base64, when encrypted. */
  header?: string;
}

/** Remembers whether (path, etag) is encrypted, so listings need not read bodies. Never throws. */
export interface EncryptionMetaCache {
  get(path: string, etag: string): EncryptionMeta | undefined | Promise<EncryptionMeta | undefined>;
  set(path: string, etag: string, meta: EncryptionMeta): void | Promise<void>;
}

/** Bounded in-memory LRU (default 10,000 entries). ETags compare weakly (W/"x" equals "x"). */
export class LruEncryptionMetaCache implements EncryptionMetaCache {
  private readonly entries = new Map<string, EncryptionMeta>();
  constructor(private readonly maxEntries = 10_000) {}

  get(path: string, etag: string): EncryptionMeta | undefined {
    const k = cacheKey(path, etag);
    const meta = this.entries.get(k);
    if (meta !== undefined) {
      this.entries.delete(k);
      this.entries.set(k, meta);
    }
    return meta;
  }

  set(path: string, etag: string, meta: EncryptionMeta): void {
    const k = cacheKey(path, etag);
    this.entries.delete(k);
    this.entries.set(k, meta);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

function cacheKey(path: string, etag: string): string {
  return `${path}\u0000${etag.replace(/^W\//, '')}`;
}

export interface EncryptingBackendOptions {
  /** Alias of metaCache (the cache also holds headers for range reads). */
  headerCache?: EncryptionMetaCache;
  metaCache?: EncryptionMetaCache;
  /** Parallel header probes while listing (default 8). */
  probeConcurrency?: number;
  /**
   * Longest time one listing waits for header probes (default 3000 ms). Entries not probed by then
   * are listed by size arithmetic (as davcrypt files), and their probes finish in the background so
   * the next listing knows: a cold cache on a large folder behind a slow backend never stalls a client.
   */
  probeBudgetMs?: number;
  /** Random source for file salts and nonce prefixes (tests only). */
  random?: RandomSource;
  /**
   * A stored file without the DAVCRYPT magic: 'refuse' (default) makes reading it an error
   * (DC_ERR_NOT_ENCRYPTED, or DC_ERR_BAD_HEADER for a cut-off magic); 'read' serves it as it is.
   */
  plaintext?: 'refuse' | 'read';
}

/**
 * True when a file written by davcrypt (e = 16) can have this stored size. Checked against the
 * writers' exponent only: with all of 12..24 almost every size would qualify and every listing
 * would probe. A foreign file with another exponent and a size invalid under e = 16 is listed with
 * its stored size, but still decrypts on read (reads look at the header).
 */
export function couldBeCipherSize(size: number): boolean {
  return plainSizeForCipher(size, DEFAULT_SEGMENT_EXPONENT) !== undefined;
}

const PLAINTEXT: EncryptionMeta = Object.freeze({ encrypted: false });
/** Not probed (over the listing's budget): a size davcrypt files can have is taken as one (writers' exponent). */
const BY_SIZE: EncryptionMeta = Object.freeze({ encrypted: true });

/** Parsed headers of cached meta objects (listings would otherwise decode base64 per entry and request). */
const parsedHeaders = new WeakMap<EncryptionMeta, FileHeader>();

export class EncryptingBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly setModified?: (path: string, mtime: Date, opts?: OpOptions) => Promise<void>;
  readonly quota?: (path: string, opts?: OpOptions) => Promise<QuotaInfo>;
  readonly listWithSelf?: (path: string, opts?: OpOptions) => Promise<{ self: EntryInfo; children: EntryInfo[] }>;
  readonly listEach?: (path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts?: OpOptions) => Promise<void>;
  private readonly meta: EncryptionMetaCache;
  private readonly probeConcurrency: number;
  private readonly probeBudgetMs: number;
  private readonly refusePlaintext: boolean;
  /** True while unprobed entries of an over-budget listing are probed in the background (one batch at a time). */
  private warming = false;
  private readonly fileKeys = new FileKeyCache();
  /** Last inner (cipher-side) entry seen per path: a hint for one-request range reads, always re-validated by ETag. */
  private readonly hints = new Map<string, EntryInfo>();
  private refreshesInFlight = 0;

  constructor(
    private readonly inner: Backend,
    private readonly keys: MountKeySet,
    private readonly options: EncryptingBackendOptions = {},
  ) {
    this.name = `encrypting:${inner.name}`;
    this.capabilities = { ...inner.capabilities };
    this.meta = options.metaCache ?? options.headerCache ?? new LruEncryptionMetaCache();
    this.probeConcurrency = Math.max(1, options.probeConcurrency ?? 8);
    this.probeBudgetMs = Math.max(0, options.probeBudgetMs ?? 3000);
    this.refusePlaintext = options.plaintext !== 'read';
    if (inner.setModified) this.setModified = (path, mtime, opts) => inner.setModified!(path, mtime, opts);
    if (inner.quota) this.quota = (path, opts) => inner.quota!(path, opts);
    if (inner.listEach) this.listEach = (path, onEntry, opts = {}) => this.plainEach(path, onEntry, opts);
    if (inner.listWithSelf) {
      this.listWithSelf = async (path, opts = {}) => {
        const { self, children } = await inner.listWithSelf!(path, opts);
        this.hint(self);
        const [plainSelf, plainChildren] = await Promise.all([this.plainEntryOf(self, opts), this.plainEntries(children, opts)]);
        return { self: plainSelf, children: plainChildren };
      };
    }
  }

  /**
   * Plain entries as the inner listing arrives: known ones at once (folders, sizes no davcrypt file
   * can have, cached headers), the rest after the listing, probed as list() probes (bounded in number and time).
   */
  private async plainEach(path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts: OpOptions): Promise<void> {
    const unknown: EntryInfo[] = [];
    let unknownSelf: EntryInfo | undefined;
    await this.inner.listEach!(path, (entry, self) => {
      this.hint(entry);
      const meta = this.knownMeta(entry);
      if (meta !== undefined) onEntry(this.toPlainEntry(entry, meta), self);
      else if (self) unknownSelf = entry;
      else unknown.push(entry);
    }, opts);
    if (unknownSelf) onEntry(await this.plainEntryOf(unknownSelf, opts), true);
    if (unknown.length > 0) for (const e of await this.plainEntries(unknown, opts)) onEntry(e, false);
  }

  /**
   * Plaintext size for encrypted files. A file that cannot be served keeps its stored size and
   * carries `integrityError` (see EntryInfo). Throws as the inner backend (DC_ERR_NOT_FOUND).
   */
  async stat(path: string, opts: OpOptions = {}): Promise<EntryInfo> {
    const info = await this.inner.stat(path, opts);
    this.hint(info);
    if (info.type !== 'file') return info;
    // Probed even when the size says "not a davcrypt file": HEAD must not answer 200 for what GET refuses.
    const meta = await this.metaFor(info, opts, true);
    const plain = this.toPlainEntry(info, meta);
    const problem = await this.integrityProblem(info, meta, opts);
    return problem ? { ...plain, integrityError: problem } : plain;
  }

  /** Why a stored file cannot be served, or undefined. A magic with a bad header or size is never plaintext. */
  private async integrityProblem(info: EntryInfo, meta: EncryptionMeta, opts: OpOptions): Promise<DavcryptError | undefined> {
    if (!meta.encrypted) return this.refusePlaintext ? this.notDavcrypt(info, opts) : undefined;
    try {
      this.checkCipherSize(info, this.headerOf(meta));
    } catch (err) {
      if (isDavcryptError(err)) return err;
      throw err;
    }
    return undefined;
  }

  /** The error for a stored file without the magic (plaintext: refuse); reads its first 8 bytes to name it. */
  private async notDavcrypt(info: EntryInfo, opts: OpOptions): Promise<DavcryptError> {
    let head: Buffer = Buffer.alloc(0);
    if (info.size > 0) {
      const r = await this.inner.read(info.path, { range: { start: 0, end: MAGIC.length - 1 }, signal: opts.signal });
      head = await readUpTo(r.body, MAGIC.length);
    }
    return refusal(info.path, head);
  }

  private async plainEntryOf(info: EntryInfo, opts: OpOptions): Promise<EntryInfo> {
    return this.toPlainEntry(info, await this.metaFor(info, opts));
  }

  /** Plaintext sizes; probes at most probeConcurrency headers at once, for at most probeBudgetMs. Throws as the inner backend. */
  async list(path: string, opts: OpOptions = {}): Promise<EntryInfo[]> {
    return this.plainEntries(await this.inner.list(path, opts), opts);
  }

  private async plainEntries(entries: EntryInfo[], opts: OpOptions): Promise<EntryInfo[]> {
    const out = new Array<EntryInfo>(entries.length);
    // First pass without a promise per entry: folders, sizes no davcrypt file can have, cached headers.
    const unknown: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      this.hint(entry);
      const meta = this.knownMeta(entry);
      if (meta === undefined) unknown.push(i);
      else out[i] = this.toPlainEntry(entry, meta);
    }
    let next = 0;
    const deadline = Date.now() + this.probeBudgetMs;
    const worker = async (): Promise<void> => {
      while (next < unknown.length && Date.now() < deadline) {
        const i = unknown[next++]!;
        const entry = entries[i]!;
        let meta: EncryptionMeta = PLAINTEXT;
        try {
          meta = await this.metaFor(entry, opts);
        } catch (err) {
          // A file that vanished or cannot be probed is listed as stored; reading it will say why.
          if (isDavcryptError(err, 'DC_ERR_ABORTED') || opts.signal?.aborted) throw err;
        }
        out[i] = this.toPlainEntry(entry, meta);
      }
    };
    if (unknown.length > 0) await Promise.all(Array.from({ length: Math.min(this.probeConcurrency, unknown.length) }, worker));
    if (next < unknown.length) {
      const rest = unknown.slice(next).map((i) => entries[i]!);
      for (const i of unknown.slice(next)) out[i] = this.toPlainEntry(entries[i]!, BY_SIZE);
      this.warmLater(rest);
    }
    return out;
  }

  /** Probes what an over-budget listing left out, in the background (errors ignored), one batch at a time. */
  private warmLater(entries: EntryInfo[]): void {
    if (this.warming) return;
    this.warming = true;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) await this.metaFor(entries[next++]!, {}).catch(() => undefined);
    };
    void Promise.all(Array.from({ length: Math.min(this.probeConcurrency, entries.length) }, worker))
      .finally(() => { this.warming = false; });
  }

  /** What metaFor would say without any I/O or promise, or undefined when that takes a cache or probe call. */
  private knownMeta(info: EntryInfo): EncryptionMeta | undefined {
    if (info.type !== 'file' || !couldBeCipherSize(info.size)) return PLAINTEXT;
    if (info.etag === undefined) return undefined;
    const cached = this.meta.get(info.path, info.etag);
    return cached instanceof Promise ? undefined : cached;
  }

  /**
   * Whole file: one inner read, decided by its first bytes. Range: stat, header (cache or a 65-byte
   * ranged read), then a ranged read of only the needed segments. Throws DC_ERR_NOT_FOUND,
   * DC_ERR_IS_A_COLLECTION, DC_ERR_RANGE_NOT_SATISFIABLE, DC_ERR_UNKNOWN_KEY and header errors
   * (DC_ERR_BAD_HEADER, DC_ERR_UNSUPPORTED_VERSION, DC_ERR_TRUNCATED for an impossible size); the body
   * errors with DC_ERR_TAMPERED / DC_ERR_TRUNCATED / DC_ERR_TRAILING_DATA and never yields unverified bytes.
   */
  async read(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    if (opts.range) return this.readRange(path, opts);
    const r = await this.inner.read(path, { signal: opts.signal });
    const body = r.body;
    let head: Buffer;
    let ended: boolean;
    try {
      ({ head, ended } = await readHead(body, HEADER_BYTES));
    } catch (err) {
      body.destroy();
      throw err;
    }
    this.hint(r.info);
    if (!hasMagic(head)) {
      this.remember(r.info, PLAINTEXT);
      if (this.refusePlaintext) {
        body.destroy();
        throw refusal(path, head.subarray(0, MAGIC.length));
      }
      // Piped at once: the inner stream must not start flowing before our caller reads.
      const out = new PassThrough();
      if (ended) {
        body.destroy();
        out.end(head);
      } else {
        out.write(head);
        body.on('error', (err) => out.destroy(err));
        out.on('close', () => body.destroy());
        body.pipe(out);
      }
      return { body: out, info: r.info };
    }
    let header: FileHeader;
    let decrypt: Readable & NodeJS.WritableStream;
    try {
      header = parseHeader(head);
      const mountKey = this.keyFor(header);
      this.checkCipherSize(r.info, header);
      decrypt = createSegmentDecryptStream({
        header, mountKey, fileKeys: this.fileKeysFor(mountKey, header), firstSegment: 0, cipherSize: r.info.size,
      });
    } catch (err) {
      body.destroy();
      throw err;
    }
    this.remember(r.info, { encrypted: true, header: header.bytes.toString('base64') });
    const rest = head.subarray(HEADER_BYTES);
    if (ended) {
      body.destroy();
      decrypt.end(rest);
    } else {
      if (rest.length > 0) decrypt.write(rest);
      body.on('error', (err) => decrypt.destroy(err));
      decrypt.on('close', () => body.destroy());
      body.pipe(decrypt);
    }
    return { body: decrypt, info: this.toPlainEntry(r.info, { encrypted: true, header: '' }, header) };
  }

  private fileKeysFor(mountKey: Buffer, header: FileHeader): FileKeys {
    return this.fileKeys.get(mountKey, header);
  }

  /** Remembers the inner entry of a path (bounded); a hint only, see readRangeByHint. */
  private hint(info: EntryInfo): void {
    if (info.type !== 'file' || info.etag === undefined) return;
    this.hints.delete(info.path);
    this.hints.set(info.path, info);
    if (this.hints.size > 10_000) this.hints.delete(this.hints.keys().next().value!);
  }

  /**
   * One request: the ranged read of the needed segments, sent with If-Match on the last ETag seen for
   * the path. Used only when the answer proves it read that very version (same ETag, same total size
   * from Content-Range); undefined means "do it the long way".
   */
  private async readRangeByHint(path: string, opts: ReadOptions): Promise<ReadResult | undefined> {
    const hint = this.hints.get(path);
    if (hint?.etag === undefined) return undefined;
    const meta = await this.meta.get(path, hint.etag);
    if (!meta?.encrypted || !meta.header) return undefined;
    let header: FileHeader;
    let mountKey: Buffer;
    try {
      header = this.headerOf(meta);
      mountKey = this.keyFor(header);
    } catch {
      return undefined;
    }
    const plainSize = plainSizeForCipher(hint.size, header.segmentExponent);
    const range = opts.range!;
    if (plainSize === undefined || plainSize === 0 || range.start >= plainSize) return undefined;
    if (range.end !== undefined && range.end < range.start) return undefined;
    const end = Math.min(range.end ?? plainSize - 1, plainSize - 1);
    const span = planPlainRange(range.start, end, plainSize, header.segmentExponent);
    let r: ReadResult;
    try {
      r = await this.inner.read(path, { range: { start: span.cipherStart, end: span.cipherEnd }, ifMatch: hint.etag, signal: opts.signal });
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_ABORTED') || opts.signal?.aborted) throw err;
      this.hints.delete(path);
      return undefined;
    }
    const same = r.range !== undefined && r.range.start === span.cipherStart && r.range.end === span.cipherEnd &&
      r.info.size === hint.size && r.info.etag !== undefined && sameEtag(r.info.etag, hint.etag);
    if (!same) {
      r.body.destroy();
      this.hints.delete(path);
      return undefined;
    }
    const { body } = await decryptPlainRange({
      header, mountKey, fileKeys: this.fileKeysFor(mountKey, header), cipherSize: hint.size, plainStart: range.start, plainEnd: end,
      fetchCipherRange: async () => r.body,
    });
    return { body, info: this.toPlainEntry(r.info, meta, header), range: { start: range.start, end } };
  }

  private async readRange(path: string, opts: ReadOptions): Promise<ReadResult> {
    const fast = await this.readRangeByHint(path, opts);
    if (fast) return fast;
    const range = opts.range!;
    const info = await this.inner.stat(path, opts);
    this.hint(info);
    if (info.type === 'directory') {
      throw davError('DC_ERR_IS_A_COLLECTION', `${this.name} read ${path}: is a folder`, { details: { path } });
    }
    // Probed whatever the size: a file with the magic but a size no davcrypt file has must fail, not pass as plaintext.
    const meta = await this.metaFor(info, opts, true);
    if (!meta.encrypted) {
      if (this.refusePlaintext) throw await this.notDavcrypt(info, opts);
      return this.inner.read(path, opts);
    }
    const header = this.headerOf(meta);
    const mountKey = this.keyFor(header);
    this.checkCipherSize(info, header);
    const plainInfo = this.toPlainEntry(info, meta, header);
    const plainSize = plainInfo.size;
    if (plainSize === 0) return { body: Readable.from([]), info: plainInfo };
    if (range.start >= plainSize || (range.end !== undefined && range.end < range.start)) {
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${this.name} read ${path}: range starts at ${range.start}, size is ${plainSize}`, {
        details: { path, size: plainSize },
      });
    }
    const end = Math.min(range.end ?? plainSize - 1, plainSize - 1);
    const { body } = await decryptPlainRange({
      header,
      mountKey,
      fileKeys: this.fileKeysFor(mountKey, header),
      cipherSize: info.size,
      plainStart: range.start,
      plainEnd: end,
      fetchCipherRange: async (cipherStart, cipherEnd) => {
        const r = await this.inner.read(path, { range: { start: cipherStart, end: cipherEnd }, signal: opts.signal });
        if (info.etag !== undefined && r.info.etag !== undefined && !sameEtag(info.etag, r.info.etag)) {
          r.body.destroy();
          throw davError('DC_ERR_PRECONDITION_FAILED', `${this.name} read ${path}: the file changed during the read`, {
            details: { path },
          });
        }
        return r.body;
      },
    });
    return { body, info: plainInfo, range: { start: range.start, end } };
  }

  /**
   * Encrypts the body with the current mount key. opts.size is the plaintext size (the inner backend
   * gets the ciphertext size). Throws as the inner backend's write.
   */
  async write(path: string, body: Readable, opts: WriteOptions = {}): Promise<EntryInfo> {
    const encrypt = createEncryptStream({ key: this.keys.current, random: this.options.random });
    // Not stream.pipeline: it would destroy the caller's body (an HTTP request) on an inner failure.
    const onBodyError = (err: Error) => encrypt.destroy(err);
    body.on('error', onBodyError);
    body.pipe(encrypt);
    try {
      const info = await this.inner.write(path, encrypt, {
        ...opts,
        size: opts.size === undefined ? undefined : cipherSizeForPlain(opts.size),
      });
      const meta = { encrypted: true, header: encrypt.header.toString('base64') };
      if (info.etag !== undefined) {
        this.remember(info, meta);
        this.hint(info);
      } else {
        this.learnEtagLater(path, info.size, meta);
      }
      return this.toPlainEntry(info, meta, parseHeader(encrypt.header));
    } finally {
      body.off('error', onBodyError);
      body.unpipe(encrypt);
      if (!encrypt.writableFinished) encrypt.destroy();
    }
  }

  /**
   * The write answer had no ETag (opts.etagOptional): learn it off the request's path, so listings
   * and range reads find the header in the cache instead of probing. Bounded; best effort.
   */
  private learnEtagLater(path: string, cipherSize: number, meta: EncryptionMeta): void {
    if (this.refreshesInFlight >= 8) return;
    this.refreshesInFlight += 1;
    this.inner.stat(path).then(
      (info) => {
        // Another size means another writer got there first: its bytes are not the ones we know.
        if (info.type === 'file' && info.size === cipherSize) {
          this.remember(info, meta);
          this.hint(info);
        }
      },
      () => undefined,
    ).finally(() => { this.refreshesInFlight -= 1; });
  }

  mkdir(path: string, opts?: OpOptions): Promise<void> {
    return this.inner.mkdir(path, opts);
  }

  delete(path: string, opts?: OpOptions): Promise<void> {
    this.hints.delete(path);
    return this.inner.delete(path, opts);
  }

  /** Files are not bound to their path: the backend moves the ciphertext as it is. */
  move(from: string, to: string, opts?: TransferOptions): Promise<void> {
    this.hints.delete(from);
    this.hints.delete(to);
    return this.inner.move(from, to, opts);
  }

  copy(from: string, to: string, opts?: TransferOptions): Promise<void> {
    return this.inner.copy(from, to, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Encrypted or not, from size arithmetic (skipped when `exact`), then the cache, then a 65-byte
   * ranged read. An empty file is never encrypted.
   */
  private async metaFor(info: EntryInfo, opts: OpOptions, exact = false): Promise<EncryptionMeta> {
    if (info.type !== 'file' || info.size === 0 || (!exact && !couldBeCipherSize(info.size))) return PLAINTEXT;
    if (info.etag !== undefined) {
      const cached = await this.meta.get(info.path, info.etag);
      if (cached !== undefined) return cached;
    }
    const r = await this.inner.read(info.path, { range: { start: 0, end: HEADER_BYTES - 1 }, signal: opts.signal });
    const head = await readUpTo(r.body, HEADER_BYTES);
    let meta: EncryptionMeta = PLAINTEXT;
    // Magic but a bad header is still "encrypted": the raw bytes are kept so reads report the exact error.
    if (hasMagic(head)) meta = { encrypted: true, header: head.toString('base64') };
    // Cache under the etag the probe saw, which is the version whose bytes were read.
    this.remember(r.info.etag !== undefined ? r.info : info, meta);
    return meta;
  }

  private remember(info: EntryInfo, meta: EncryptionMeta): void {
    if (info.etag === undefined) return;
    void Promise.resolve(this.meta.set(info.path, info.etag, meta)).catch(() => undefined);
  }

  /** Throws the header's own error (DC_ERR_BAD_HEADER, DC_ERR_UNSUPPORTED_VERSION). Parsed once per meta object. */
  private headerOf(meta: EncryptionMeta): FileHeader {
    const known = parsedHeaders.get(meta);
    if (known) return known;
    const header = parseHeader(Buffer.from(meta.header ?? '', 'base64'));
    parsedHeaders.set(meta, header);
    return header;
  }

  private keyFor(header: FileHeader): Buffer {
    const key = this.keys.get(header.keyId);
    if (!key) {
      throw davError('DC_ERR_UNKNOWN_KEY', `no mount key with id ${header.keyId.toString('hex')}`, {
        details: { keyId: header.keyId.toString('hex') },
      });
    }
    return key.key;
  }

  private checkCipherSize(info: EntryInfo, header: FileHeader): void {
    if (plainSizeForCipher(info.size, header.segmentExponent) === undefined) {
      throw davError('DC_ERR_TRUNCATED', `${info.path}: ${info.size} bytes is not a whole encrypted file`, {
        details: { path: info.path, size: info.size },
      });
    }
  }

  private toPlainEntry(info: EntryInfo, meta: EncryptionMeta, header?: FileHeader): EntryInfo {
    if (info.type !== 'file' || !meta.encrypted) return info;
    let h = header;
    if (!h && meta.header === undefined) {
      const bySize = plainSizeForCipher(info.size, DEFAULT_SEGMENT_EXPONENT);
      return bySize === undefined ? info : { ...info, size: bySize };
    }
    if (!h) {
      try {
        h = this.headerOf(meta);
      } catch {
        return info; // unreadable header: list the stored size; reads report the error
      }
    }
    const plainSize = plainSizeForCipher(info.size, h.segmentExponent);
    return plainSize === undefined ? info : { ...info, size: plainSize };
  }
}

/**
 * The error for a stored file whose first bytes (`head`, up to 8) are not the magic: parseHeader's
 * own code (DC_ERR_NOT_ENCRYPTED; DC_ERR_BAD_HEADER for a file cut inside the magic), with a hint.
 */
function refusal(path: string, head: Buffer): DavcryptError {
  try {
    parseHeader(head);
  } catch (err) {
    if (isDavcryptError(err)) {
      return davError(
        err.code,
        `${path}: not a davcrypt file (${err.message}); this mount refuses plaintext. ` +
          'If it held files from before encryption was turned on, set plaintext: read for it and run davcrypt encrypt-all',
        { details: { path }, cause: err },
      );
    }
    throw err;
  }
  return davError('DC_ERR_BAD_HEADER', `${path}: the file changed while it was read`, { details: { path } });
}

function sameEtag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** Reads at most `limit` bytes, then releases the stream. */
async function readUpTo(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      parts.push(b);
      length += b.length;
      if (length >= limit) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, limit);
}

/**
 * Reads at least `n` bytes (fewer only at end of stream) without a flowing consumer, so the stream
 * can be piped or unshifted afterwards. `ended`: the stream has nothing more (head is all of it).
 */
function readHead(stream: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const finish = (ended: boolean) => {
      cleanup();
      resolve({ head: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length), ended });
    };
    function onReadable(): void {
      let chunk: Buffer | null;
      while (length < n && (chunk = stream.read() as Buffer | null) !== null) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        parts.push(b);
        length += b.length;
      }
      if (length >= n) finish(stream.readableEnded || (stream.readableLength === 0 && isEnded(stream)));
    }
    function onEnd(): void {
      finish(true);
    }
    function onError(err: Error): void {
      cleanup();
      reject(err);
    }
    function onClose(): void {
      cleanup();
      reject(davError('DC_ERR_ABORTED', 'stream closed before its first bytes'));
    }
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

function isEnded(stream: Readable): boolean {
  return (stream as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}
