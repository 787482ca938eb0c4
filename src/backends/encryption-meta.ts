// What the encrypting decorator knows about one stored version of a file (keyed by path and
// ETag): encrypted or not, and its 65-byte header. Lets listings and range reads skip the
// header probe. Holds no key material (a header is public: magic, key id, salt, nonce prefix),
// so entries leaving the cache need no wiping; derived file keys live in crypto's FileKeyCache,
// whose dispose hook zeroes them. No I/O.
import { LRUCache } from 'lru-cache';
import { parseHeader, type FileHeader } from '../crypto/index.js';

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
  private readonly entries: LRUCache<string, EncryptionMeta>;
  constructor(maxEntries = 10_000) {
    this.entries = new LRUCache<string, EncryptionMeta>({ max: maxEntries });
  }

  get(path: string, etag: string): EncryptionMeta | undefined {
    return this.entries.get(cacheKey(path, etag));
  }

  set(path: string, etag: string, meta: EncryptionMeta): void {
    this.entries.set(cacheKey(path, etag), meta);
  }

  get size(): number {
    return this.entries.size;
  }
}

function cacheKey(path: string, etag: string): string {
  return `${path}\u0000${etag.startsWith('W/') ? etag.slice(2) : etag}`;
}

/** Weak ETag comparison (W/"x" equals "x"), as the cache keys compare. */
export function sameEtag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

export const PLAINTEXT: EncryptionMeta = Object.freeze({ encrypted: false });
/** Not probed (over the listing's budget): a size davcrypt files can have is taken as one (writers' exponent). */
export const BY_SIZE: EncryptionMeta = Object.freeze({ encrypted: true });

/** Parsed headers of cached meta objects (listings would otherwise decode base64 per entry and request). */
const parsedHeaders = new WeakMap<EncryptionMeta, FileHeader>();

/** Throws the header's own error (DC_ERR_BAD_HEADER, DC_ERR_UNSUPPORTED_VERSION). Parsed once per meta object. */
export function headerOfMeta(meta: EncryptionMeta): FileHeader {
  const known = parsedHeaders.get(meta);
  if (known) return known;
  const header = parseHeader(Buffer.from(meta.header ?? '', 'base64'));
  parsedHeaders.set(meta, header);
  return header;
}
