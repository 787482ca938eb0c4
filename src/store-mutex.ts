// Short named mutexes over the gateway store, for read-modify-write of store values
// that keyv cannot update atomically (keyrings, user lists). redis:// stores get a
// lease lock shared by every instance (SET NX PX + token, renewed while held, released
// by compare-and-delete); sqlite:// and memory:// get an in-process mutex (one process
// per store). Knows nothing of what the callers protect; must not touch other keys.
import { randomUUID } from 'node:crypto';
import type Keyv from 'keyv';
import { davError, isDavcryptError } from './errors.js';
import { KeyedMutex } from './server/mutex.js';
import { luaScript, redisStoreOf, type RedisStoreHandle } from './store.js';

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

/** ARGV: token, leaseMs. 'OK' when taken, nil when held by someone else. */
const TAKE = luaScript(`return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])`);
/** ARGV: token, leaseMs. 1 when still ours and extended, else 0. */
const EXTEND = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`);
/** ARGV: token. 1 when ours and deleted, else 0 (expired or taken over: leave it alone). */
const GIVE = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`);

/** Lease mutex on Redis: key '<ns>::mutex:<name>' holds a random token while taken. */
export class RedisMutex implements DistributedMutex {
  /** Serializes contenders of this process first, so only one per name polls Redis. */
  private readonly local = new KeyedMutex();
  private readonly leaseMs: number;
  private readonly waitMs: number;

  constructor(private readonly redis: RedisStoreHandle, opts: StoreMutexOptions = {}) {
    this.leaseMs = Math.max(100, Math.floor(opts.leaseMs ?? DEFAULT_LEASE_MS));
    this.waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  }

  /** Raw key of a mutex (tests and diagnostics). */
  keyOf(name: string): string {
    return `${this.redis.keyPrefix}mutex:${name}`;
  }

  run<T>(name: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const deadline = Date.now() + (opts.waitMs ?? this.waitMs);
    return this.local.run(name, async () => {
      const key = this.keyOf(name);
      const token = randomUUID();
      await this.take(name, key, token, deadline);
      const renew = setInterval(() => {
        this.script(EXTEND, key, [token, String(this.leaseMs)]).catch(() => undefined);
      }, Math.max(30, Math.floor(this.leaseMs / 3)));
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.script(GIVE, key, [token]).catch(() => undefined); // the lease ends it anyway
      }
    });
  }

  private async take(name: string, key: string, token: string, deadline: number): Promise<void> {
    let pauseMs = 5;
    for (;;) {
      if ((await this.script(TAKE, key, [token, String(this.leaseMs)])) !== null) return;
      const left = deadline - Date.now();
      if (left <= 0) throw davError('DC_ERR_INTERNAL', `store mutex ${JSON.stringify(name)} is busy; gave up waiting`, { details: { mutex: name } });
      await new Promise((r) => setTimeout(r, Math.min(left, pauseMs * (0.5 + Math.random()))));
      pauseMs = Math.min(100, pauseMs * 1.5);
    }
  }

  private async script(script: ReturnType<typeof luaScript>, key: string, args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalScript(script, [key], args);
    } catch (err) {
      if (isDavcryptError(err)) throw err;
      throw davError('DC_ERR_INTERNAL', `store mutex: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}

/** The mutex that fits a store made by createStore: RedisMutex for redis://, else LocalMutex. */
export function createStoreMutex(store: Keyv, opts: StoreMutexOptions = {}): DistributedMutex {
  const redis = redisStoreOf(store);
  return redis ? new RedisMutex(redis, opts) : new LocalMutex();
}
