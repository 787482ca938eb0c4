// Short named mutexes over the gateway store, for read-modify-write of store values
// that keyv cannot update atomically (keyrings, user lists, dead props). A lease on one
// store key, shared by every process using the store: Redis SET NX PX + token, or a
// SQLite upsert-if-expired row; renewed while held, released by compare-and-delete.
// memory:// gets an in-process mutex. Knows nothing of what the callers protect.
import { randomUUID } from 'node:crypto';
import type Keyv from 'keyv';
import { davError } from './errors.js';
import { KeyedMutex } from './mutex.js';
import { luaScript, redisStoreOf, sqliteStoreOf, type RedisStoreHandle, type SqliteStoreHandle } from './store.js';

export interface DistributedMutex {
  /**
   * Runs `fn` while holding the mutex `name` in every gateway instance sharing the store
   * (in this process only, for sqlite:// and memory://). Rethrows what `fn` throws. Throws
   * DC_ERR_INTERNAL when the mutex is not obtained within `waitMs` (default 10 s) or the
   * store fails. Keep `fn` short: other instances wait for it.
   */
  run<T>(name: string, fn: () => Promise<T>, opts?: { waitMs?: number }): Promise<T>;
}

export interface StoreMutexOptions {
  /** Redis lease; renewed every third of it while `fn` runs, so it lapses only when the holder stalls or dies. Default 15 s. */
  leaseMs?: number;
  /** Default wait for `run`. Default 10 s. */
  waitMs?: number;
}

const DEFAULT_LEASE_MS = 15_000;
const DEFAULT_WAIT_MS = 10_000;

/** In-process mutex: right for a store that one process owns (sqlite://, memory://). */
export class LocalMutex implements DistributedMutex {
  private readonly local = new KeyedMutex();

  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.local.run(name, fn);
  }
}

/** The three atomic steps of a lease on one store key. */
interface Lease {
  keyOf(name: string): string;
  /** True when taken (absent or expired before). */
  take(key: string, token: string, leaseMs: number): Promise<boolean>;
  extend(key: string, token: string, leaseMs: number): Promise<void>;
  /** Deletes the key only while it still holds `token`. */
  give(key: string, token: string): Promise<void>;
}

/** ARGV: token, leaseMs. 'OK' when taken, nil when held by someone else. */
const TAKE = luaScript(`return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])`);
/** ARGV: token, leaseMs. 1 when still ours and extended, else 0. */
const EXTEND = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`);
/** ARGV: token. 1 when ours and deleted, else 0 (expired or taken over: leave it alone). */
const GIVE = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`);

function redisLease(redis: RedisStoreHandle): Lease {
  return {
    keyOf: (name) => `${redis.keyPrefix}mutex:${name}`,
    take: async (key, token, leaseMs) => (await redis.evalScript(TAKE, [key], [token, String(leaseMs)])) !== null,
    extend: async (key, token, leaseMs) => { await redis.evalScript(EXTEND, [key], [token, String(leaseMs)]); },
    give: async (key, token) => { await redis.evalScript(GIVE, [key], [token]); },
  };
}

/** Lease rows in keyv's own table: value = {"token","expiresAt"}; upsert only over an expired row. */
function sqliteLease(db: SqliteStoreHandle): Lease {
  const t = db.table;
  return {
    keyOf: (name) => `${db.keyPrefix}__mutex:${name}`,
    async take(key, token, leaseMs) {
      const now = Date.now();
      const rows = await db.query(
        `INSERT INTO ${t} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value ` +
          `WHERE CAST(json_extract(${t}.value, '$.expiresAt') AS INTEGER) <= ? RETURNING key`,
        key, JSON.stringify({ token, expiresAt: now + leaseMs }), now);
      return rows.length > 0;
    },
    async extend(key, token, leaseMs) {
      await db.query(`UPDATE ${t} SET value = ? WHERE key = ? AND json_extract(value, '$.token') = ?`,
        JSON.stringify({ token, expiresAt: Date.now() + leaseMs }), key, token);
    },
    async give(key, token) {
      await db.query(`DELETE FROM ${t} WHERE key = ? AND json_extract(value, '$.token') = ?`, key, token);
    },
  };
}

/** A lease mutex: take (retrying with jittered backoff), renew every third of the lease, give back. */
class LeaseMutex implements DistributedMutex {
  /** Serializes contenders of this process first, so only one per name polls the store. */
  private readonly local = new KeyedMutex();
  private readonly leaseMs: number;
  private readonly waitMs: number;

  constructor(private readonly lease: Lease, opts: StoreMutexOptions = {}) {
    this.leaseMs = Math.max(100, Math.floor(opts.leaseMs ?? DEFAULT_LEASE_MS));
    this.waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  }

  /** Raw store key of a mutex (tests and diagnostics). */
  keyOf(name: string): string {
    return this.lease.keyOf(name);
  }

  run<T>(name: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const deadline = Date.now() + (opts.waitMs ?? this.waitMs);
    return this.local.run(name, async () => {
      const key = this.keyOf(name);
      const token = randomUUID();
      await this.take(name, key, token, deadline);
      const renew = setInterval(() => {
        this.lease.extend(key, token, this.leaseMs).catch(() => undefined);
      }, Math.max(30, Math.floor(this.leaseMs / 3)));
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.lease.give(key, token).catch(() => undefined); // the lease ends it anyway
      }
    });
  }

  private async take(name: string, key: string, token: string, deadline: number): Promise<void> {
    let pauseMs = 5;
    for (;;) {
      let taken: boolean;
      try {
        taken = await this.lease.take(key, token, this.leaseMs);
      } catch (err) {
        throw davError('DC_ERR_INTERNAL', `store mutex: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
      if (taken) return;
      const left = deadline - Date.now();
      if (left <= 0) throw davError('DC_ERR_INTERNAL', `store mutex ${JSON.stringify(name)} is busy; gave up waiting`, { details: { mutex: name } });
      await new Promise((r) => setTimeout(r, Math.min(left, pauseMs * (0.5 + Math.random()))));
      pauseMs = Math.min(100, pauseMs * 1.5);
    }
  }
}

/** Lease mutex on Redis: key '<ns>::mutex:<name>' holds a random token (SET NX PX, compare-and-delete). */
export class RedisMutex extends LeaseMutex {
  constructor(redis: RedisStoreHandle, opts: StoreMutexOptions = {}) {
    super(redisLease(redis), opts);
  }
}

/** Lease mutex in a sqlite file: row '<ns>:__mutex:<name>' in keyv's table, shared by every process opening the file. */
export class SqliteMutex extends LeaseMutex {
  constructor(db: SqliteStoreHandle, opts: StoreMutexOptions = {}) {
    super(sqliteLease(db), opts);
  }
}

/**
 * The mutex that fits a store made by createStore. `sharedBy: 'processes'` (default) guards
 * against every process opening the store: RedisMutex on redis://, SqliteMutex on sqlite://
 * (the CLI and the gateway share the file). `sharedBy: 'instances'` is for state only the
 * gateway writes: RedisMutex on redis://, else in-process (one gateway per sqlite file).
 * memory:// is always in-process.
 */
export function createStoreMutex(store: Keyv, opts: StoreMutexOptions & { sharedBy?: 'processes' | 'instances' } = {}): DistributedMutex {
  const redis = redisStoreOf(store);
  if (redis) return new RedisMutex(redis, opts);
  const sqlite = (opts.sharedBy ?? 'processes') === 'processes' ? sqliteStoreOf(store) : undefined;
  return sqlite ? new SqliteMutex(sqlite, opts) : new LocalMutex();
}

const sharedMutexes = new WeakMap<Keyv, DistributedMutex>();

/**
 * createStoreMutex(store) made once per store object, for short read-modify-write of shared store
 * values (the user list, the initial admin, revocation markers, the keys epoch): every caller of
 * this process shares its in-process queue, which is all a memory:// store has. Never nest two
 * runs of the same name (that waits for itself until it gives up).
 */
export function sharedStoreMutex(store: Keyv): DistributedMutex {
  let mutex = sharedMutexes.get(store);
  if (!mutex) {
    mutex = createStoreMutex(store);
    sharedMutexes.set(store, mutex);
  }
  return mutex;
}
