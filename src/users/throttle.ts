// Failed-login throttling, keyed by (user name, client address) and by client
// address alone, never by user name alone: a guesser elsewhere cannot lock a user
// out, and a verified login (answered from the login cache) never reaches here.
// A login takes its failure slot BEFORE the argon2 work (reserve) and gives it back
// only when it succeeds: parallel guesses cannot outrun the count. After maxFailures
// in windowSeconds a key is refused for a delay that doubles per lockout.
// The state lives in the gateway store, so every worker process and every gateway
// instance sharing the store counts the same failures; each read-modify-write runs
// under the store mutex of the client address (both keys of a login include it).
// Entries carry a store TTL (they end when nothing in them matters any more), and
// slots of a login whose process died lapse by themselves. Never sees passwords.
import { createHash } from 'node:crypto';
import Keyv from 'keyv';
import { davError } from '../errors.js';
import type { ThrottleConfig } from '../config/types.js';
import { createStoreMutex, type DistributedMutex } from '../store-mutex.js';
import { sqliteStoreOf } from '../store.js';

interface State {
  /** Failure times within the window (ms). */
  failures: number[];
  /** One entry per slot taken by a login still running: the time it lapses (ms). */
  pending: number[];
  lockedUntil: number;
  strikes: number;
  lastFailure: number;
}

export const DEFAULT_THROTTLE: ThrottleConfig = { maxFailures: 5, windowSeconds: 60, baseDelaySeconds: 5, maxDelaySeconds: 900 };
export const DEFAULT_MAX_FAILURES_PER_ADDRESS = 20;

/**
 * A slot a login took and never settled (its process died) counts this long: longer than any
 * argon2 wait (queue plus the check itself), short enough not to lock anyone out for long.
 */
const PENDING_LAPSE_MS = 120_000;
/** How often a sqlite store is swept of expired throttle rows (keyv deletes them only when read). */
const SWEEP_MS = 10 * 60_000;
const PREFIX = 'throttle:';

/** One login's reserved slot: settle it exactly once (later calls are ignored). Settling never throws. */
export interface LoginAttempt {
  /** Wrong password or unknown user: the slot stays a failure. */
  failed(): Promise<void>;
  /** Verified: the (user, address) record is cleared and the address slot given back. */
  succeeded(): Promise<void>;
  /** Neither (backend error, queue full): the slots are given back. */
  abandoned(): Promise<void>;
}

type KeyKind = 'user+address' | 'address';
interface ThrottleKey { key: string; max: number; by: KeyKind }

export interface LoginThrottleOptions {
  /** The gateway store (shared by workers and instances); an in-process store when absent (tests). */
  store?: Keyv;
  /** Called when settling a slot fails (store down): the slot then lapses by itself. */
  onError?: (err: unknown) => void;
  /** Separates throttles sharing one store (logins, share-link passwords); default 'login'. */
  scope?: string;
}

export class LoginThrottle {
  private readonly store: Keyv;
  private readonly mutex: DistributedMutex;
  private readonly onError: (err: unknown) => void;
  private readonly scope: string;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly config: ThrottleConfig = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
    options: LoginThrottleOptions = {},
  ) {
    this.store = options.store ?? new Keyv();
    this.mutex = createStoreMutex(this.store, { sharedBy: 'processes' });
    this.onError = options.onError ?? (() => undefined);
    this.scope = options.scope ?? 'login';
    if (sqliteStoreOf(this.store)) {
      this.sweeper = setInterval(() => { void this.sweep().catch(this.onError); }, SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /**
   * Takes a failure slot for (user, address) and for the address. Throws
   * DC_ERR_TOO_MANY_REQUESTS (details.retryAfterSeconds, details.by) while either is
   * locked out or its failures plus running logins reach the limit; store errors as they are.
   */
  async reserve(user: string, clientAddress: string): Promise<LoginAttempt> {
    const keys = this.keysOf(user, clientAddress);
    // A locked-out key is refused from a plain read, without the mutex: a guesser's burst from one
    // address then costs the store two reads each instead of a queue of lease round trips.
    const peek = await Promise.all(keys.map(({ key }) => this.store.get(key) as Promise<State | undefined>));
    const t0 = this.now();
    this.refuseIfFull(keys, peek.map((st) => st && this.forgetOld(structuredClone(st), t0)), t0);
    const lapse = await this.update(clientAddress, keys, (states, t) => {
      this.refuseIfFull(keys, states, t);
      const until = t + PENDING_LAPSE_MS;
      for (let i = 0; i < keys.length; i++) (states[i] ??= emptyState()).pending.push(until);
      return until;
    });
    let settled = false;
    const settle = (fn: (states: (State | undefined)[], t: number) => void) => async () => {
      if (settled) return;
      settled = true;
      await this.update(clientAddress, keys, fn).catch(this.onError);
    };
    return {
      failed: settle((states, t) => {
        for (const [i, k] of keys.entries()) states[i] = this.fail(release(states[i] ?? emptyState(), lapse), k.max, t);
      }),
      succeeded: settle((states) => {
        states[0] = undefined;
        states[1] = states[1] && release(states[1], lapse);
      }),
      abandoned: settle((states) => {
        for (let i = 0; i < keys.length; i++) states[i] = states[i] && release(states[i]!, lapse);
      }),
    };
  }

  /** Throws DC_ERR_TOO_MANY_REQUESTS when a key is locked out or its failures plus running logins reach its limit. */
  private refuseIfFull(keys: ThrottleKey[], states: (State | undefined)[], t: number): void {
    for (const [i, { max, by }] of keys.entries()) {
      const st = states[i];
      if (!st) continue;
      let retryMs = 0;
      if (st.lockedUntil > t) retryMs = st.lockedUntil - t;
      else if (st.failures.length + st.pending.length >= max) {
        // Full of running logins: they settle within an argon2; full of failures: the oldest leaves the window.
        retryMs = st.failures.length >= max ? st.failures[0]! + this.config.windowSeconds * 1000 - t : 1000;
      }
      if (retryMs > 0) {
        const retryAfterSeconds = Math.max(1, Math.ceil(retryMs / 1000));
        throw davError('DC_ERR_TOO_MANY_REQUESTS', `too many failed logins; try again in ${retryAfterSeconds} s`, {
          details: { retryAfterSeconds, by },
        });
      }
    }
  }

  /** Stops the sqlite sweep. */
  close(): void {
    clearInterval(this.sweeper);
  }

  private keysOf(user: string, clientAddress: string): ThrottleKey[] {
    // Hashed: store keys of one size whatever the (possibly invalid, possibly long) name, and no
    // user names in clear in the store.
    const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
    return [
      { key: PREFIX + hash(`${this.scope}\0ua\0${user}\0${clientAddress}`), max: this.config.maxFailures, by: 'user+address' },
      { key: PREFIX + hash(`${this.scope}\0a\0${clientAddress}`), max: this.config.maxFailuresPerAddress ?? DEFAULT_MAX_FAILURES_PER_ADDRESS, by: 'address' },
    ];
  }

  /**
   * Reads the states of `keys`, aged to now, lets `fn` change them (undefined: delete) and writes
   * them back with their TTL, all under the address's store mutex. Returns what `fn` returns;
   * rethrows what it throws (nothing is written then).
   */
  private update<T>(clientAddress: string, keys: ThrottleKey[], fn: (states: (State | undefined)[], t: number) => T): Promise<T> {
    return this.mutex.run(`throttle:${createHash('sha256').update(`${this.scope}\0${clientAddress}`).digest('base64url')}`, async () => {
      const t = this.now();
      const states = (await Promise.all(keys.map(({ key }) => this.store.get(key)))).map((raw) => {
        const st = raw as State | undefined;
        return st ? this.forgetOld(st, t) : undefined;
      });
      const before = states.map((st) => JSON.stringify(st));
      const result = fn(states, t);
      await Promise.all(keys.map(({ key }, i) => {
        const st = states[i];
        if (JSON.stringify(st) === before[i]) return undefined;
        if (!st || this.idle(st)) return this.store.delete(key);
        return this.store.set(key, st, this.ttlOf(st, t));
      }));
      return result;
    });
  }

  private forgetOld(st: State, t: number): State {
    const windowMs = this.config.windowSeconds * 1000;
    st.failures = st.failures.filter((f) => t - f < windowMs);
    st.pending = (st.pending ?? []).filter((until) => until > t);
    // Quiet for a whole window after the last lockout ended: the next lockout starts short again.
    if (st.strikes > 0 && st.lockedUntil <= t && t - Math.max(st.lastFailure, st.lockedUntil) >= windowMs) st.strikes = 0;
    return st;
  }

  private fail(st: State, max: number, t: number): State {
    st.failures.push(t);
    st.lastFailure = t;
    if (st.failures.length >= max) {
      st.strikes += 1;
      const delaySeconds = Math.min(this.config.baseDelaySeconds * 2 ** (st.strikes - 1), this.config.maxDelaySeconds);
      st.lockedUntil = t + delaySeconds * 1000;
      st.failures = []; // the lockout paid for them; after it, another full count earns the next (doubled) one
    }
    return st;
  }

  /** Nothing left that matters: no running login, no failure in the window, no lockout history. */
  private idle(st: State): boolean {
    return st.pending.length === 0 && st.failures.length === 0 && st.strikes === 0;
  }

  /** Until the last thing in it matters, plus a window (strikes are forgotten a window after the last lockout). */
  private ttlOf(st: State, t: number): number {
    const last = Math.max(st.lockedUntil, st.lastFailure, ...st.pending);
    return Math.max(1000, last - t + this.config.windowSeconds * 1000);
  }

  /** Deletes expired throttle rows of a sqlite store (Redis expires them itself). */
  private async sweep(): Promise<void> {
    const db = sqliteStoreOf(this.store);
    if (!db) return;
    await db.query(`DELETE FROM ${db.table} WHERE key LIKE ? AND CAST(json_extract(value, '$.expires') AS INTEGER) < ?`,
      `${db.keyPrefix}${PREFIX}%`, Date.now());
  }
}

function emptyState(): State {
  return { failures: [], pending: [], lockedUntil: 0, strikes: 0, lastFailure: 0 };
}

/** Gives back the slot that lapses at `until` (or, once it has lapsed, nothing). */
function release(st: State, until: number): State {
  const i = st.pending.indexOf(until);
  if (i >= 0) st.pending.splice(i, 1);
  return st;
}
