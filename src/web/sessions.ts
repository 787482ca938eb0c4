// Browser sessions in the gateway store, so that every gateway process sharing the
// store knows them. The cookie carries a random 256-bit id; the store keeps only
// SHA-256(id) as the key, and the user's unlocked identity key sealed (AES-256-GCM)
// under a key derived from the id: a stolen store alone opens no session. The CSRF
// token is an HMAC of the id, so it needs no storage. Never logs ids or tokens.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type Keyv from 'keyv';

const PREFIX = 'websession:';
const ID_BYTES = 32;

export interface SessionRecord {
  user: string;
  /** The account record's version at sign-in: a password change ends the session. */
  accountVersion: string;
  /** base64: 12-byte IV, 16-byte tag, sealed identity key. */
  sealedKey: string;
  created: number;
  expires: number;
}

export interface OpenedSession {
  user: string;
  accountVersion: string;
  privateKey: Buffer;
  expires: number;
}

/** base64url session id from a Cookie header, or undefined when absent or malformed. */
export function sessionIdFrom(cookieHeader: string | undefined, cookieName: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== cookieName) continue;
    const value = part.slice(eq + 1).trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}

function storeKey(id: string): string {
  return PREFIX + createHash('sha256').update(id).digest('hex');
}

function sealingKey(id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(id, 'base64url'), Buffer.alloc(0), 'davcrypt web session key', 32));
}

/** The CSRF token of a session: sent by our script in a header on every state-changing request. */
export function csrfTokenOf(id: string): string {
  return createHmac('sha256', Buffer.from(id, 'base64url')).update('davcrypt web csrf').digest('base64url');
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches(id: string, submitted: string | undefined): boolean {
  if (!submitted) return false;
  const expected = Buffer.from(csrfTokenOf(id));
  const given = Buffer.from(submitted);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class SessionStore {
  constructor(private readonly store: Keyv, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** Creates a session for the user; returns its id (the cookie value). The key is not kept. */
  async create(user: string, accountVersion: string, privateKey: Buffer): Promise<string> {
    const id = randomBytes(ID_BYTES).toString('base64url');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', sealingKey(id), iv);
    cipher.setAAD(Buffer.from(user));
    const sealed = Buffer.concat([cipher.update(privateKey), cipher.final()]);
    const record: SessionRecord = {
      user, accountVersion, sealedKey: Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64'),
      created: this.now(), expires: this.now() + this.ttlMs,
    };
    await this.store.set(storeKey(id), record, this.ttlMs);
    return id;
  }

  /** The session's user and identity key, or undefined (unknown, expired, or not opening). */
  async open(id: string): Promise<OpenedSession | undefined> {
    const record = (await this.store.get(storeKey(id))) as SessionRecord | undefined;
    if (!record || record.expires <= this.now()) return undefined;
    const raw = Buffer.from(record.sealedKey, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', sealingKey(id), raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(record.user));
      decipher.setAuthTag(raw.subarray(12, 28));
      const privateKey = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
      return { user: record.user, accountVersion: record.accountVersion, privateKey, expires: record.expires };
    } catch {
      return undefined;
    }
  }

  /** The live record (another process may have ended the session), without opening its key. */
  async peek(id: string): Promise<SessionRecord | undefined> {
    const record = (await this.store.get(storeKey(id))) as SessionRecord | undefined;
    return record && record.expires > this.now() ? record : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.store.delete(storeKey(id));
  }
}
