// In-memory cache of verified logins: key = HMAC-SHA256(process-random secret,
// user \0 password), so the cache never holds a password or anything a password
// guess could be checked against offline. Bounded idle time and size; entries
// dropped on expiry are handed to onDrop (which wipes keys). No I/O.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

interface Entry<S> {
  digest: Buffer;
  session: S;
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
  /** Idle expiry is the TTL refreshed on every hit; every way out (expiry, size, delete, clear) calls onDrop. */
  private readonly entries: LRUCache<string, Entry<S>>;
  private readonly timer: NodeJS.Timeout;

  constructor(options: LoginCacheOptions<S>) {
    const now = options.now ?? Date.now;
    this.entries = new LRUCache<string, Entry<S>>({
      max: options.maxEntries,
      ttl: options.idleMs,
      updateAgeOnGet: true,
      // Read the clock on every check (the default caches it for 1 ms on a timer).
      ttlResolution: 0,
      perf: { now },
      dispose: (entry) => options.onDrop?.(entry.session),
    });
    this.timer = setInterval(() => this.sweep(), Math.max(1000, Math.min(options.idleMs, 60_000)));
    this.timer.unref();
  }

  /** The keyed hash of a credential pair (what the cache is indexed by). */
  digest(user: string, password: string): Buffer {
    return createHmac('sha256', this.secret).update(user, 'utf8').update('\0').update(password, 'utf8').digest();
  }

  /** The live session for this digest, refreshing its idle timer; undefined when absent or expired. */
  get(digest: Buffer): S | undefined {
    const entry = this.entries.get(digest.toString('hex'));
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    return entry.session;
  }

  set(digest: Buffer, session: S): void {
    this.entries.set(digest.toString('hex'), { digest, session });
  }

  /** Drops every entry whose session matches (e.g. all logins of a user). Returns how many. */
  deleteWhere(match: (session: S) => boolean): number {
    const keys = [...this.entries.entries()].filter(([, entry]) => match(entry.session)).map(([key]) => key);
    for (const key of keys) this.entries.delete(key);
    return keys.length;
  }

  /** Drops expired entries (also runs on a timer). */
  sweep(): void {
    this.entries.purgeStale();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops everything and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.entries.clear();
  }
}
