// EncryptingBackend: the decorator that encrypts file bodies on write and decrypts
// them on read (docs/DESIGN.md §2, §3, §5), over any Backend. Names, folders, moves and
// copies pass through; sizes are reported on the plaintext side. A stored file without
// the DAVCRYPT magic is an error (plaintext: refuse, the default: the backend may have
// put it there) or served as it is (plaintext: read, for data from before encryption);
// a file with the magic is never served as plaintext. Holds no keys on disk and does
// no I/O of its own beyond calls to the wrapped backend. Its helpers: encryption-meta.ts
// (what is known per stored version), header-probes.ts (listing probes within a budget),
// stream-heads.ts (first bytes of a body, and handing on the rest).
import { PassThrough, Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import {
  DEFAULT_SEGMENT_EXPONENT,
  FileKeyCache,
  HEADER_BYTES,
  MAGIC,
  cipherSizeForPlain,
  createEncryptStream,
  createSegmentDecryptStream,
  createSliceStream,
  decryptPlainRange,
  hasMagic,
  parseHeader,
  planPlainRange,
  plainSizeForCipher,
  type FileHeader,
  type FileKeys,
  type RandomSource,
} from '../crypto/index.js';
import { BY_SIZE, LruEncryptionMetaCache, PLAINTEXT, headerOfMeta, sameEtag, type EncryptionMeta, type EncryptionMetaCache } from './encryption-meta.js';
import { ProbeScheduler } from './header-probes.js';
import { continueAfterHead, firstVerified, readHead, readUpTo } from './stream-heads.js';
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
  WriteOutcome,
} from './types.js';

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

/** Range reads of a file that keeps changing under them: tries before DC_ERR_PRECONDITION_FAILED. */
const RANGE_READ_ATTEMPTS = 5;

/** Plaintext bodies handed through as the inner backend gave them (nothing to verify, nothing to wait for). */
const passedThrough = new WeakSet<Readable>();

/**
 * What the decorator itself can do, ANDed with the wrapped backend's (types.ts; rclone's
 * Features.Mask). It masks nothing today, and each pass-through is a decision: ranges map to
 * segment ranges, moves and copies carry ciphertext as it is (files are not bound to their
 * path), mtimes and write outcomes pass through, quota passes through counting stored
 * (cipher-side) bytes, within about 0.05 % of plaintext, and names are the backend's own, so is
 * case-insensitivity. A capability the decorator could not honour is set false here.
 */
const OWN_CAPABILITIES: Required<BackendCapabilities> = {
  rangeRead: true, serverSideMove: true, serverSideCopy: true, setModified: true, quota: true,
  writeReportsCreated: true, caseInsensitive: true,
};

/** `inner`'s capabilities ANDed with `own` (a capability `inner` leaves undefined stays undefined). */
export function maskCapabilities(inner: BackendCapabilities, own: Required<BackendCapabilities>): BackendCapabilities {
  const out: BackendCapabilities = { ...inner };
  for (const k of Object.keys(own) as (keyof BackendCapabilities)[]) {
    if (out[k] !== undefined) out[k] = out[k] && own[k];
  }
  return Object.freeze(out);
}

export class EncryptingBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly setModified?: (path: string, mtime: Date, opts?: OpOptions) => Promise<void>;
  readonly quota?: (path: string, opts?: OpOptions) => Promise<QuotaInfo>;
  readonly listWithSelf?: (path: string, opts?: OpOptions) => Promise<{ self: EntryInfo; children: EntryInfo[] }>;
  readonly listEach?: (path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts?: OpOptions) => Promise<void>;
  private readonly meta: EncryptionMetaCache;
  private readonly probes: ProbeScheduler;
  private readonly refusePlaintext: boolean;
  private readonly fileKeys = new FileKeyCache();
  /** Last inner (cipher-side) entry seen per path: a hint for one-request range reads, always re-validated by ETag. */
  private readonly hints = new LRUCache<string, EntryInfo>({ max: 10_000 });
  private refreshesInFlight = 0;

  constructor(
    private readonly inner: Backend,
    private readonly keys: MountKeySet,
    private readonly options: EncryptingBackendOptions = {},
  ) {
    this.name = `encrypting:${inner.name}`;
    this.capabilities = maskCapabilities(inner.capabilities, OWN_CAPABILITIES);
    this.meta = options.metaCache ?? options.headerCache ?? new LruEncryptionMetaCache();
    this.probes = new ProbeScheduler(Math.max(1, options.probeConcurrency ?? 8), Math.max(0, options.probeBudgetMs ?? 3000));
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
    const left = await this.probes.within(unknown, async (i) => {
      const entry = entries[i]!;
      let meta: EncryptionMeta = PLAINTEXT;
      try {
        meta = await this.metaFor(entry, opts);
      } catch (err) {
        // A file that vanished or cannot be probed is listed as stored; reading it will say why.
        if (isDavcryptError(err, 'DC_ERR_ABORTED') || opts.signal?.aborted) throw err;
      }
      out[i] = this.toPlainEntry(entry, meta);
    });
    if (left.length > 0) {
      for (const i of left) out[i] = this.toPlainEntry(entries[i]!, BY_SIZE);
      // Probed in the background, one batch at a time: the next listing finds them cached.
      this.probes.later(left.map((i) => entries[i]!), (entry) => this.metaFor(entry, {}));
    }
    return out;
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
      const out = new PassThrough();
      continueAfterHead(body, head, ended, out);
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
    continueAfterHead(body, head.subarray(HEADER_BYTES), ended, decrypt);
    return { body: decrypt, info: this.toPlainEntry(r.info, { encrypted: true, header: '' }, header) };
  }

  private fileKeysFor(mountKey: Buffer, header: FileHeader): FileKeys {
    return this.fileKeys.get(mountKey, header);
  }

  /** Remembers the inner entry of a path (bounded); a hint only, see readRangeByHint. */
  private hint(info: EntryInfo): void {
    if (info.type !== 'file' || info.etag === undefined) return;
    // A listing re-hints every file it names: an unchanged hint is left as it is (no LRU update per entry).
    const known = this.hints.peek(info.path);
    if (known !== undefined && known.etag === info.etag && known.size === info.size) return;
    this.hints.set(info.path, info);
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

  /**
   * A range read trusts a header from the cache (bound to an ETag) over the bytes only until the
   * first segment fails: then the header is read again from the backend (with the ETag of the
   * bytes read) and the range once more. Only a failure with a freshly read header is reported
   * (DC_ERR_TAMPERED), as is a file that changed twice during the read (DC_ERR_PRECONDITION_FAILED).
   */
  private async readRange(path: string, opts: ReadOptions): Promise<ReadResult> {
    let tampered = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        // Third try after two tag failures: header and segments in ONE read, so they are one version
        // even where the store gives two versions one ETag (Apache: size + mtime, mtimes a clock tick apart).
        const read = tampered >= 2 ? this.readRangeInOneRequest(path, opts) : this.readRangeOnce(path, opts, attempt > 0);
        const result = await read;
        return passedThrough.has(result.body) ? result : await firstVerified(result);
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_TAMPERED')) tampered += 1;
        const retry = !opts.signal?.aborted && attempt < RANGE_READ_ATTEMPTS - 1 && (
          (isDavcryptError(err, 'DC_ERR_TAMPERED') && tampered <= 2) ||
          // The file changed between two of our reads (writers racing): read it afresh, a few times.
          (isDavcryptError(err, 'DC_ERR_PRECONDITION_FAILED') && opts.ifMatch === undefined));
        if (!retry) throw err;
        this.hints.delete(path);
      }
    }
  }

  /** A range read whose header comes from the same backend read as its segments (reads from byte 0). */
  private async readRangeInOneRequest(path: string, opts: ReadOptions): Promise<ReadResult> {
    const range = opts.range!;
    const info = await this.inner.stat(path, opts);
    if (info.type === 'directory') throw davError('DC_ERR_IS_A_COLLECTION', `${this.name} read ${path}: is a folder`, { details: { path } });
    const meta = couldBeCipherSize(info.size) ? await this.probeMeta(info, opts) : PLAINTEXT;
    if (!meta.encrypted) {
      const plain = await this.inner.read(path, opts);
      passedThrough.add(plain.body);
      return plain;
    }
    const guess = this.headerOf(meta);
    this.checkCipherSize(info, guess);
    const plainSize = plainSizeForCipher(info.size, guess.segmentExponent)!;
    if (plainSize === 0) return { body: Readable.from([]), info: this.toPlainEntry(info, meta, guess) };
    if (range.start >= plainSize || (range.end !== undefined && range.end < range.start)) {
      throw davError('DC_ERR_RANGE_NOT_SATISFIABLE', `${this.name} read ${path}: range starts at ${range.start}, size is ${plainSize}`, {
        details: { path, size: plainSize },
      });
    }
    const end = Math.min(range.end ?? plainSize - 1, plainSize - 1);
    const span = planPlainRange(range.start, end, plainSize, guess.segmentExponent);
    const changed = () => davError('DC_ERR_PRECONDITION_FAILED', `${this.name} read ${path}: the file changed during the read`, { details: { path } });
    const r = await this.inner.read(path, { range: { start: 0, end: span.cipherEnd }, signal: opts.signal });
    if (r.info.size !== info.size || (r.range !== undefined && (r.range.start !== 0 || r.range.end !== span.cipherEnd))) {
      r.body.destroy();
      throw changed();
    }
    let head: Buffer;
    let ended: boolean;
    let header: FileHeader;
    try {
      ({ head, ended } = await readHead(r.body, HEADER_BYTES));
      header = parseHeader(head.subarray(0, HEADER_BYTES));
      if (header.segmentExponent !== guess.segmentExponent) throw changed();
    } catch (err) {
      r.body.destroy();
      throw err;
    }
    const mountKey = this.keyFor(header);
    const segments = createSliceStream(span.cipherStart - HEADER_BYTES, span.cipherEnd - span.cipherStart + 1);
    continueAfterHead(r.body, head.subarray(HEADER_BYTES), ended, segments);
    const { body } = await decryptPlainRange({
      header, mountKey, fileKeys: this.fileKeysFor(mountKey, header), cipherSize: info.size, plainStart: range.start, plainEnd: end,
      fetchCipherRange: async () => segments,
    });
    return { body, info: this.toPlainEntry(info, meta, header), range: { start: range.start, end } };
  }

  private async readRangeOnce(path: string, opts: ReadOptions, fresh: boolean): Promise<ReadResult> {
    const fast = fresh ? undefined : await this.readRangeByHint(path, opts);
    if (fast) return fast;
    const range = opts.range!;
    const info = await this.inner.stat(path, opts);
    this.hint(info);
    if (info.type === 'directory') {
      throw davError('DC_ERR_IS_A_COLLECTION', `${this.name} read ${path}: is a folder`, { details: { path } });
    }
    let meta: EncryptionMeta;
    if (fresh && info.type === 'file' && couldBeCipherSize(info.size)) {
      const probed = await this.probeMetaWithEtag(info, opts);
      // Header and stat must describe one version, or the segments would be checked against another header.
      if (info.etag !== undefined && probed.etag !== undefined && !sameEtag(info.etag, probed.etag)) {
        throw davError('DC_ERR_PRECONDITION_FAILED', `${this.name} read ${path}: the file changed during the read`, { details: { path } });
      }
      meta = probed.meta;
    } else {
      // Probed whatever the size: a file with the magic but a size no davcrypt file has must fail, not pass as plaintext.
      meta = await this.metaFor(info, opts, true);
    }
    if (!meta.encrypted) {
      if (this.refusePlaintext) throw await this.notDavcrypt(info, opts);
      const plain = await this.inner.read(path, opts);
      passedThrough.add(plain.body);
      return plain;
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
    // A known size streams ciphertext as the body arrives (no segment-sized wait per backend write).
    const encrypt = createEncryptStream({ key: this.keys.current, random: this.options.random, plainSize: opts.size });
    // Not stream.pipeline: it would destroy the caller's body (an HTTP request) on an inner failure.
    const onBodyError = (err: Error) => encrypt.destroy(err);
    body.on('error', onBodyError);
    body.pipe(encrypt);
    try {
      const outcome: WriteOutcome = opts.outcome ?? {};
      const info = await this.inner.write(path, encrypt, {
        ...opts,
        size: opts.size === undefined ? undefined : cipherSizeForPlain(opts.size),
        outcome,
      });
      const meta = { encrypted: true, header: encrypt.header.toString('base64') };
      // Bound to an ETag only when the store confirmed it names these bytes: a same-size overwrite
      // racing this write would otherwise get our header, and every range read of it a false tamper alarm.
      if (info.etag !== undefined && outcome.etagConfirmed) {
        this.remember(info, meta);
        this.hint(info);
      } else {
        this.learnEtagLater(path, info.size);
      }
      return this.toPlainEntry(info, meta, parseHeader(encrypt.header));
    } finally {
      body.off('error', onBodyError);
      body.unpipe(encrypt);
      if (!encrypt.writableFinished) encrypt.destroy();
    }
  }

  /**
   * The write answer had no confirmed ETag: learn one off the path, so listings and range reads
   * find the header in the cache instead of probing. A header probe, not a stat: its ETag comes
   * with the very bytes read, so whatever version it sees is cached with its own header. Bounded;
   * best effort.
   */
  private learnEtagLater(path: string, cipherSize: number): void {
    if (this.refreshesInFlight >= 8) return;
    this.refreshesInFlight += 1;
    this.probeMeta({ name: '', path, type: 'file', size: cipherSize }, {})
      .catch(() => undefined)
      .finally(() => { this.refreshesInFlight -= 1; });
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
    return this.probeMeta(info, opts);
  }

  /** The 65-byte ranged read behind metaFor, cache bypassed; caches what it read under the ETag read with it. */
  private async probeMeta(info: EntryInfo, opts: OpOptions): Promise<EncryptionMeta> {
    return (await this.probeMetaWithEtag(info, opts)).meta;
  }

  private async probeMetaWithEtag(info: EntryInfo, opts: OpOptions): Promise<{ meta: EncryptionMeta; etag?: string }> {
    const r = await this.inner.read(info.path, { range: { start: 0, end: HEADER_BYTES - 1 }, signal: opts.signal });
    const head = await readUpTo(r.body, HEADER_BYTES);
    let meta: EncryptionMeta = PLAINTEXT;
    // Magic but a bad header is still "encrypted": the raw bytes are kept so reads report the exact error.
    if (hasMagic(head)) meta = { encrypted: true, header: head.toString('base64') };
    // Cache under the etag the probe saw, which is the version whose bytes were read (never the
    // caller's: its stat may be older than these bytes).
    this.remember(r.info, meta);
    return { meta, etag: r.info.etag };
  }

  private remember(info: EntryInfo, meta: EncryptionMeta): void {
    if (info.etag === undefined) return;
    void Promise.resolve(this.meta.set(info.path, info.etag, meta)).catch(() => undefined);
  }

  /** Throws the header's own error (DC_ERR_BAD_HEADER, DC_ERR_UNSUPPORTED_VERSION). Parsed once per meta object. */
  private headerOf(meta: EncryptionMeta): FileHeader {
    return headerOfMeta(meta);
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
