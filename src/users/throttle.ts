// Failed-login throttling, keyed by (user name, client address) and by client
// address alone, never by user name alone: a guesser elsewhere cannot lock a user
// out, and a verified login (answered from the login cache) never reaches here.
// A login takes its failure slot BEFORE the argon2 work (reserve) and gives it back
// only when it succeeds: parallel guesses cannot outrun the count. After maxFailures
// in windowSeconds a key is refused for a delay that doubles per lockout. In memory
// only; bounded in size. Never sees passwords.
import { LRUCache } from 'lru-cache';
import { davError } from '../errors.js';
import type { ThrottleConfig } from '../config/types.js';

interface State {
  /** Failure times within the window (ms). */
  failures: number[];
  /** Slots taken by logins still running. */
  pending: number;
  lockedUntil: number;
  strikes: number;
  lastFailure: number;
}

export const DEFAULT_THROTTLE: ThrottleConfig = { maxFailures: 5, windowSeconds: 60, baseDelaySeconds: 5, maxDelaySeconds: 900 };
export const DEFAULT_MAX_FAILURES_PER_ADDRESS = 20;

/** One login's reserved slot: settle it exactly once (later calls are ignored). */
export interface LoginAttempt {
  /** Wrong password or unknown user: the slot stays a failure. */
  failed(): void;
  /** Verified: the (user, address) record is cleared and the address slot given back. */
  succeeded(): void;
  /** Neither (backend error, queue full): the slots are given back. */
  abandoned(): void;
}

type KeyKind = 'user+address' | 'address';

export class LoginThrottle {
  /**
   * Bounded: past maxTracked keys the least recently touched one leaves first. No ttl: a state
   * ages by its own clock (forgetOld), and one whose login is still running must not expire.
   */
  private readonly states: LRUCache<string, State>;

  constructor(
    private readonly config: ThrottleConfig = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
    maxTracked = 10_000,
  ) {
    this.states = new LRUCache<string, State>({ max: maxTracked });
  }

  /**
   * Takes a failure slot for (user, address) and for the address. Throws
   * DC_ERR_TOO_MANY_REQUESTS (details.retryAfterSeconds, details.by) while either is
   * locked out or its failures plus running logins reach the limit.
   */
  reserve(user: string, clientAddress: string): LoginAttempt {
    const t = this.now();
    const keys = this.keysOf(user, clientAddress);
    for (const { key, max, by } of keys) {
      const st = this.states.peek(key); // a refused try does not count as touching the key
      if (!st) continue;
      this.forgetOld(st, t);
      let retryMs = 0;
      if (st.lockedUntil > t) retryMs = st.lockedUntil - t;
      else if (st.failures.length + st.pending >= max) {
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
    for (const { key } of keys) this.touch(key).pending++;
    let settled = false;
    const settle = (fn: () => void) => () => {
      if (settled) return;
      settled = true;
      fn();
    };
    return {
      failed: settle(() => { for (const k of keys) this.fail(k.key, k.max); }),
      succeeded: settle(() => {
        this.states.delete(keys[0]!.key);
        this.release(keys[1]!.key);
      }),
      abandoned: settle(() => { for (const k of keys) this.release(k.key); }),
    };
  }

  /** Number of keys currently tracked (tests, metrics). */
  get size(): number {
    return this.states.size;
  }

  private keysOf(user: string, clientAddress: string): Array<{ key: string; max: number; by: KeyKind }> {
    // Valid names have at most 64 characters; longer (invalid) ones must not make keys of any size.
    const name = user.length > 64 ? `${user.slice(0, 64)}…` : user;
    return [
      { key: `ua:${name}\0${clientAddress}`, max: this.config.maxFailures, by: 'user+address' },
      { key: `a:${clientAddress}`, max: this.config.maxFailuresPerAddress ?? DEFAULT_MAX_FAILURES_PER_ADDRESS, by: 'address' },
    ];
  }

  /** The state of a key, created when missing, made the most recently used. */
  private touch(key: string): State {
    const st = this.states.peek(key) ?? { failures: [], pending: 0, lockedUntil: 0, strikes: 0, lastFailure: 0 };
    this.states.set(key, st);
    return st;
  }

  private forgetOld(st: State, t: number): void {
    const windowMs = this.config.windowSeconds * 1000;
    st.failures = st.failures.filter((f) => t - f < windowMs);
    // Quiet for a whole window after the last lockout ended: the next lockout starts short again.
    if (st.strikes > 0 && st.lockedUntil <= t && t - Math.max(st.lastFailure, st.lockedUntil) >= windowMs) st.strikes = 0;
  }

  private fail(key: string, max: number): void {
    const t = this.now();
    const st = this.touch(key);
    st.pending = Math.max(0, st.pending - 1);
    this.forgetOld(st, t);
    st.failures.push(t);
    st.lastFailure = t;
    if (st.failures.length >= max) {
      st.strikes += 1;
      const delaySeconds = Math.min(this.config.baseDelaySeconds * 2 ** (st.strikes - 1), this.config.maxDelaySeconds);
      st.lockedUntil = t + delaySeconds * 1000;
      st.failures = []; // the lockout paid for them; after it, another full count earns the next (doubled) one
    }
  }

  private release(key: string): void {
    const st = this.states.peek(key);
    if (!st) return;
    st.pending = Math.max(0, st.pending - 1);
    if (st.pending === 0 && st.failures.length === 0 && st.strikes === 0) this.states.delete(key);
  }
}
