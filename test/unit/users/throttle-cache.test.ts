import { describe, expect, it } from 'vitest';
import { isDavcryptError } from '../../../src/errors.js';
import { isValidUserName, LoginCache, LoginThrottle } from '../../../src/users/index.js';

describe('user names', () => {
  it('accept the documented alphabet and refuse traversal', () => {
    for (const ok of ['alice', 'a', 'Bob.Smith', 'x_y-z@example.com', '0', 'a'.repeat(64)]) expect(isValidUserName(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', '../x', 'a/b', '-a', '.hidden', 'a b', 'a\\b', 'a'.repeat(65), 'é', '{user}', 'a\0'])
      expect(isValidUserName(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('LoginThrottle', () => {
  const config = { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 10, maxDelaySeconds: 25 };

  function refused(th: LoginThrottle, user: string, addr: string): number | undefined {
    try {
      th.check(user, addr);
      return undefined;
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_TOO_MANY_REQUESTS')) throw err;
      return err.details.retryAfterSeconds as number;
    }
  }

  it('refuses after maxFailures, with a delay that grows and is capped', () => {
    let now = 1_000_000;
    const th = new LoginThrottle(config, () => now);
    th.fail('bob', '10.0.0.1');
    th.fail('bob', '10.0.0.1');
    expect(refused(th, 'bob', '10.0.0.1')).toBeUndefined();
    th.fail('bob', '10.0.0.1');
    expect(refused(th, 'bob', '10.0.0.1')).toBe(10);
    now += 10_001;
    expect(refused(th, 'bob', '10.0.0.1')).toBeUndefined();
    th.fail('bob', '10.0.0.1'); // still 4 failures in the window: second lockout, doubled
    expect(refused(th, 'bob', '10.0.0.1')).toBe(20);
    now += 20_001;
    th.fail('bob', '10.0.0.1');
    expect(refused(th, 'bob', '10.0.0.1')).toBe(25); // capped at maxDelaySeconds
  });

  it('throttles per user (any address) and per address (any user)', () => {
    const now = 5_000_000;
    const th = new LoginThrottle(config, () => now);
    for (const addr of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) th.fail('carol', addr);
    expect(refused(th, 'carol', '9.9.9.9')).toBeGreaterThan(0);
    expect(refused(th, 'dave', '1.1.1.1')).toBeUndefined();
    for (const user of ['u1', 'u2', 'u3']) th.fail(user, '4.4.4.4');
    expect(refused(th, 'erin', '4.4.4.4')).toBeGreaterThan(0);
  });

  it('a success resets the count', () => {
    const th = new LoginThrottle(config, () => 0);
    th.fail('f', 'a');
    th.fail('f', 'a');
    th.succeed('f', 'a');
    th.fail('f', 'a');
    th.fail('f', 'a');
    expect(refused(th, 'f', 'a')).toBeUndefined();
  });

  it('stays bounded in memory', () => {
    const th = new LoginThrottle(config, () => 0, 100);
    for (let i = 0; i < 1000; i++) th.fail(`user${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(th.size).toBeLessThanOrEqual(101);
  });
});

describe('LoginCache', () => {
  it('keys by an HMAC of user and password, expires idle entries and drops them', () => {
    let now = 0;
    const dropped: string[] = [];
    const cache = new LoginCache<string>({ idleMs: 1000, maxEntries: 10, now: () => now, onDrop: (s) => dropped.push(s) });
    const d = cache.digest('alice', 'pw');
    expect(d).toHaveLength(32);
    expect(cache.digest('alice', 'pw').equals(d)).toBe(true);
    expect(cache.digest('alice', 'pw2').equals(d)).toBe(false);
    expect(cache.digest('alic', 'epw').equals(cache.digest('alice', 'pw'))).toBe(false); // \0 separator
    cache.set(d, 'S1');
    now = 900;
    expect(cache.get(d)).toBe('S1'); // refreshes
    now = 1800;
    expect(cache.get(d)).toBe('S1');
    now = 2801;
    expect(cache.get(d)).toBeUndefined();
    expect(dropped).toEqual(['S1']);
    cache.close();
  });

  it('evicts least recently used beyond maxEntries', () => {
    const dropped: string[] = [];
    const cache = new LoginCache<string>({ idleMs: 60_000, maxEntries: 2, onDrop: (s) => dropped.push(s) });
    const [a, b, c] = ['a', 'b', 'c'].map((u) => cache.digest(u, 'pw')) as [Buffer, Buffer, Buffer];
    cache.set(a, 'A');
    cache.set(b, 'B');
    cache.get(a);
    cache.set(c, 'C');
    expect(dropped).toEqual(['B']);
    expect(cache.get(a)).toBe('A');
    expect(cache.size).toBe(2);
    expect(cache.deleteWhere((s) => s === 'A')).toBe(1);
    cache.close();
    expect(dropped).toEqual(['B', 'A', 'C']);
  });

  it('sweep drops idle entries without a get (their keys are wiped by onDrop at once)', () => {
    let now = 10_000;
    const dropped: string[] = [];
    const cache = new LoginCache<string>({ idleMs: 1000, maxEntries: 10, now: () => now, onDrop: (s) => dropped.push(s) });
    cache.set(cache.digest('a', 'pw'), 'A');
    now += 500;
    cache.set(cache.digest('b', 'pw'), 'B');
    now += 600;
    cache.sweep();
    expect(dropped).toEqual(['A']);
    expect(cache.size).toBe(1);
    cache.set(cache.digest('b', 'pw'), 'B2'); // replacing a session drops the old one
    expect(dropped).toEqual(['A', 'B']);
    cache.close();
    expect(dropped).toEqual(['A', 'B', 'B2']);
  });

  it('two caches (two processes) never share keys', () => {
    const one = new LoginCache<string>({ idleMs: 1000, maxEntries: 1 });
    const two = new LoginCache<string>({ idleMs: 1000, maxEntries: 1 });
    expect(one.digest('a', 'b').equals(two.digest('a', 'b'))).toBe(false);
    one.close();
    two.close();
  });
});
