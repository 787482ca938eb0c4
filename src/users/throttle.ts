// Failed-login throttling per user name and per client address: after
// maxFailures failures within windowSeconds, logins for that name/address are
// refused for a delay that doubles with each further lockout. In memory only;
// bounded in size. Never sees passwords.
import { davError } from '../errors.js';
import type { ThrottleConfig } from '../config/types.js';

interface State {
  failures: number[];
  lockedUntil: number;
  strikes: number;
}

export const DEFAULT_THROTTLE: ThrottleConfig = { maxFailures: 5, windowSeconds: 60, baseDelaySeconds: 5, maxDelaySeconds: 900 };

export class LoginThrottle {
  private readonly states = new Map<string, State>();

  constructor(
    private readonly config: ThrottleConfig = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = 10_000,
  ) {}

  /** Throws DC_ERR_TOO_MANY_REQUESTS (details.retryAfterSeconds) while the user or the address is locked out. */
  check(user: string, clientAddress: string): void {
    const t = this.now();
    for (const key of keysOf(user, clientAddress)) {
      const st = this.states.get(key);
      if (st && st.lockedUntil > t) {
        const retryAfterSeconds = Math.ceil((st.lockedUntil - t) / 1000);
        throw davError('DC_ERR_TOO_MANY_REQUESTS', `too many failed logins; try again in ${retryAfterSeconds} s`, {
          details: { retryAfterSeconds, by: key.startsWith('u:') ? 'user' : 'address' },
        });
      }
    }
  }

  /** Records one failed login for both the user and the address. */
  fail(user: string, clientAddress: string): void {
    const t = this.now();
    const windowMs = this.config.windowSeconds * 1000;
    for (const key of keysOf(user, clientAddress)) {
      const st = this.states.get(key) ?? { failures: [], lockedUntil: 0, strikes: 0 };
      this.states.delete(key);
      st.failures = st.failures.filter((f) => t - f < windowMs);
      st.failures.push(t);
      if (st.failures.length >= this.config.maxFailures) {
        st.strikes += 1;
        const delaySeconds = Math.min(this.config.baseDelaySeconds * 2 ** (st.strikes - 1), this.config.maxDelaySeconds);
        st.lockedUntil = t + delaySeconds * 1000;
      }
      this.states.set(key, st);
    }
    this.prune(t);
  }

  /** A successful login clears the record of both the user and the address. */
  succeed(user: string, clientAddress: string): void {
    for (const key of keysOf(user, clientAddress)) this.states.delete(key);
  }

  /** Number of names/addresses currently tracked (tests, metrics). */
  get size(): number {
    return this.states.size;
  }

  private prune(t: number): void {
    const windowMs = this.config.windowSeconds * 1000;
    for (const [key, st] of this.states) {
      if (this.states.size <= this.maxTracked) break;
      // Oldest first (Map order); drop quiet entries, and when everything is busy drop the oldest anyway.
      if (st.lockedUntil + windowMs < t || this.states.size > this.maxTracked) this.states.delete(key);
    }
  }
}

function keysOf(user: string, clientAddress: string): [string, string] {
  return [`u:${user}`, `a:${clientAddress}`];
}
