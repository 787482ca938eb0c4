// In-memory cache of verified logins: key = HMAC-SHA256(process-random secret,
// user \0 password), so the cache never holds a password or anything a password
// guess could be checked against offline. Bounded idle time and size; entries
// dropped on expiry are handed to onDrop (which wipes keys). No I/O.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

interface Entry<S> {
  digest: Buffer;
  session: S;
  lastUsed: number;
}

export interface LoginCacheOptions<S> {
  idleMs: number;
  maxEntries: number;
  /** Called once for every entry that leaves the cache (expiry, size bound, delete, clear). */
  onDrop?: (session: S) => void;
  now?: () => number;
}

export class LoginCache<S> {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry<S>>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly options: LoginCacheOptions<S>) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), Math.max(1000, Math.min(options.idleMs, 60_000)));
    this.timer.unref();
  }

  /** The keyed hash of a credential pair (what the cache is indexed by). */
  digest(user: string, password: string): Buffer {
    return createHmac('sha256', this.secret).update(user, 'utf8').update('\0').update(password, 'utf8').digest();
  }

  /** The live session for this digest, refreshing its idle timer; undefined when absent or expired. */
  get(digest: Buffer): S | undefined {
    const key = digest.toString('hex');
    const entry = this.entries.get(key);
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    const t = this.now();
    if (t - entry.lastUsed > this.options.idleMs) {
      this.drop(key, entry);
      return undefined;
    }
    entry.lastUsed = t;
    this.entries.delete(key);
    this.entries.set(key, entry); // most recently used last
    return entry.session;
  }

  set(digest: Buffer, session: S): void {
    const key = digest.toString('hex');
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    this.entries.set(key, { digest, session, lastUsed: this.now() });
    while (this.entries.size > this.options.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry<S>];
      this.drop(oldestKey, oldest);
    }
  }

  /** Drops every entry whose session matches (e.g. all logins of a user). Returns how many. */
  deleteWhere(match: (session: S) => boolean): number {
    let n = 0;
    for (const [key, entry] of this.entries) {
      if (match(entry.session)) {
        this.drop(key, entry);
        n++;
      }
    }
    return n;
  }

  /** Drops expired entries (also runs on a timer). */
  sweep(): void {
    const t = this.now();
    for (const [key, entry] of this.entries) {
      if (t - entry.lastUsed > this.options.idleMs) this.drop(key, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops everything and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    for (const [key, entry] of this.entries) this.drop(key, entry);
  }

  private drop(key: string, entry: Entry<S>): void {
    this.entries.delete(key);
    this.options.onDrop?.(entry.session);
  }
}
