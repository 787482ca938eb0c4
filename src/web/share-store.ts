// Share links in the gateway store. A link's token (256 random bits) is in its URL
// and nowhere else: the store keys the record by SHA-256(token), and the mount key
// the link needs is sealed (AES-256-GCM) under HKDF(token ‖ argon2id(password)), so
// neither the store alone nor the token without the password opens a file. A wrong
// password fails the seal's tag; no password hash is kept to test guesses against
// offline without the token. Never logs tokens, passwords or keys.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import type Keyv from 'keyv';
import type { Argon2Params } from '../crypto/index.js';
import { davError } from '../errors.js';
import { formatMountId, type MountId, type MountKey } from '../keys/index.js';
import { sharedStoreMutex } from '../store-mutex.js';

export type ShareScope = 'read' | 'drop' | 'readwrite';
export const SHARE_SCOPES: readonly ShareScope[] = ['read', 'drop', 'readwrite'];

const RECORD = 'share:';
const INDEX = 'shares-of:';
const COUNT = 'share-downloads:';

export interface ShareRecord {
  /** Public id: the first 16 hex chars of SHA-256(token); safe to log and show. */
  id: string;
  owner: string;
  /** The owner's mount (its MountId's stored form) and its URL prefix when the link was made. */
  mountId: string;
  urlPrefix: string;
  /** Backend path inside the mount of the shared file or folder. */
  path: string;
  folder: boolean;
  scope: ShareScope;
  created: number;
  expires: number;
  maxDownloads?: number;
  /** Present when the link has a password: the argon2id salt and cost. */
  password?: { salt: string; m: number; t: number; p: number };
  /** base64: IV (12) ‖ tag (16) ‖ AES-256-GCM of JSON { key?: { id, key } } (hex). */
  sealed: string;
}

export interface ShareSummary {
  id: string; path: string; folder: boolean; scope: ShareScope; created: number; expires: number;
  maxDownloads?: number; downloads: number; password: boolean;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** True for a string shaped like a token (43 base64url chars): anything else is not looked up. */
export function isTokenShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

async function linkKey(token: string, password: string | undefined, record: Pick<ShareRecord, 'password'>): Promise<Buffer> {
  const parts: Buffer[] = [Buffer.from(token, 'base64url')];
  if (record.password) {
    const { salt, m, t, p } = record.password;
    parts.push(await argon2.hash(password ?? '', { type: argon2.argon2id, salt: Buffer.from(salt, 'base64'), raw: true, hashLength: 32, memoryCost: m, timeCost: t, parallelism: p }));
  }
  return Buffer.from(hkdfSync('sha256', Buffer.concat(parts), Buffer.alloc(0), 'davcrypt share link key v1', 32));
}

export interface NewShare {
  owner: string; mountId: MountId; urlPrefix: string; path: string; folder: boolean; scope: ShareScope;
  expires: number; maxDownloads?: number; password?: string; key?: MountKey;
}

export class ShareStore {
  constructor(private readonly store: Keyv, private readonly argon2Params: Argon2Params, private readonly now: () => number = Date.now) {}

  /** Creates a link; returns its token (shown once to the owner, kept nowhere) and record. */
  async create(share: NewShare): Promise<{ token: string; record: ShareRecord }> {
    const token = randomBytes(32).toString('base64url');
    const hash = tokenHash(token);
    const record: ShareRecord = {
      id: hash.slice(0, 16), owner: share.owner, mountId: formatMountId(share.mountId), urlPrefix: share.urlPrefix, path: share.path,
      folder: share.folder, scope: share.scope, created: this.now(), expires: share.expires,
      ...(share.maxDownloads ? { maxDownloads: share.maxDownloads } : {}),
      ...(share.password ? { password: { salt: randomBytes(16).toString('base64'), ...this.argon2Params } } : {}),
      sealed: '',
    };
    const kek = await linkKey(token, share.password, record);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kek, iv);
    cipher.setAAD(Buffer.from(record.id));
    const payload = JSON.stringify(share.key ? { key: { id: share.key.id.toString('hex'), key: share.key.key.toString('hex') } } : {});
    const sealed = Buffer.concat([cipher.update(payload), cipher.final()]);
    record.sealed = Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
    kek.fill(0);
    const ttl = Math.max(1, record.expires - this.now());
    await this.store.set(RECORD + hash, record, ttl);
    await this.editIndex(share.owner, (index) => [...index, { id: record.id, hash }]);
    return { token, record };
  }

  /** The live record of a token, or undefined (unknown, revoked, expired). */
  async find(token: string): Promise<ShareRecord | undefined> {
    if (!isTokenShaped(token)) return undefined;
    const record = (await this.store.get(RECORD + tokenHash(token))) as ShareRecord | undefined;
    return record && record.expires > this.now() ? record : undefined;
  }

  /**
   * Opens the sealed key with the token and password. Returns { key } (undefined key: a plain mount).
   * Throws DC_ERR_UNAUTHORIZED when the password is wrong (the tag fails).
   */
  async open(token: string, password: string | undefined, record: ShareRecord): Promise<{ key?: MountKey }> {
    const kek = await linkKey(token, password, record);
    const raw = Buffer.from(record.sealed, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(record.id));
      decipher.setAuthTag(raw.subarray(12, 28));
      const plain = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
      const parsed = JSON.parse(plain.toString('utf8')) as { key?: { id: string; key: string } };
      plain.fill(0);
      return parsed.key ? { key: { id: Buffer.from(parsed.key.id, 'hex'), key: Buffer.from(parsed.key.key, 'hex') } } : {};
    } catch {
      throw davError('DC_ERR_UNAUTHORIZED', 'wrong link password', { details: { challenge: 'share' } });
    } finally {
      kek.fill(0);
    }
  }

  async downloads(record: ShareRecord): Promise<number> {
    return ((await this.store.get(COUNT + record.id)) as number | undefined) ?? 0;
  }

  /**
   * Counts one download; false when the limit was already reached. Under the store mutex of the
   * link: workers and instances sharing the store never hand out more than maxDownloads.
   */
  async countDownload(record: ShareRecord): Promise<boolean> {
    return sharedStoreMutex(this.store).run(COUNT + record.id, async () => {
      const used = await this.downloads(record);
      if (record.maxDownloads !== undefined && used >= record.maxDownloads) return false;
      await this.store.set(COUNT + record.id, used + 1, Math.max(1, record.expires - this.now()));
      return true;
    });
  }

  /** Read-modify-write of an owner's link index under the store mutex (links made at once in two workers both stay listed). */
  private editIndex(owner: string, edit: (index: { id: string; hash: string }[]) => { id: string; hash: string }[]): Promise<void> {
    return sharedStoreMutex(this.store).run(INDEX + owner, async () => {
      const index = ((await this.store.get(INDEX + owner)) as { id: string; hash: string }[] | undefined) ?? [];
      await this.store.set(INDEX + owner, edit(index));
    });
  }

  async list(owner: string): Promise<ShareSummary[]> {
    const index = ((await this.store.get(INDEX + owner)) as { id: string; hash: string }[] | undefined) ?? [];
    const out: ShareSummary[] = [];
    const live: { id: string; hash: string }[] = [];
    for (const entry of index) {
      const r = (await this.store.get(RECORD + entry.hash)) as ShareRecord | undefined;
      if (!r || r.expires <= this.now()) continue;
      live.push(entry);
      out.push({
        id: r.id, path: (r.urlPrefix + (r.path === '/' ? '' : r.path)) || '/', folder: r.folder, scope: r.scope, created: r.created, expires: r.expires,
        ...(r.maxDownloads ? { maxDownloads: r.maxDownloads } : {}), downloads: await this.downloads(r), password: !!r.password,
      });
    }
    if (live.length !== index.length) {
      const gone = new Set(index.filter((e) => !live.includes(e)).map((e) => e.hash));
      await this.editIndex(owner, (current) => current.filter((e) => !gone.has(e.hash)));
    }
    return out;
  }

  /** Deletes the owner's link with this id; returns its record, or undefined when there is none. */
  async revoke(owner: string, id: string): Promise<ShareRecord | undefined> {
    const index = ((await this.store.get(INDEX + owner)) as { id: string; hash: string }[] | undefined) ?? [];
    const entry = index.find((e) => e.id === id);
    if (!entry) return undefined;
    const record = (await this.store.get(RECORD + entry.hash)) as ShareRecord | undefined;
    await this.store.delete(RECORD + entry.hash);
    await this.store.delete(COUNT + id);
    await this.editIndex(owner, (current) => current.filter((e) => e.hash !== entry.hash));
    return record;
  }
}
