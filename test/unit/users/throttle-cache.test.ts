import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { isDavcryptError } from '../../../src/errors.js';
import { Argon2Gate, isValidUserName, LoginCache, LoginThrottle, type LoginAttempt } from '../../../src/users/index.js';

describe('user names', () => {
  it('accept the documented alphabet and refuse traversal', () => {
    for (const ok of ['alice', 'a', 'Bob.Smith', 'x_y-z@example.com', '0', 'a'.repeat(64)]) expect(isValidUserName(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', '../x', 'a/b', '-a', '.hidden', 'a b', 'a\\b', 'a'.repeat(65), 'é', '{user}', 'a\0'])
      expect(isValidUserName(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('LoginThrottle', () => {
  const config = { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 10, maxDelaySeconds: 25, maxFailuresPerAddress: 6 };

  /** Reserves a slot; returns it, or the Retry-After seconds when refused. */
  async function attempt(th: LoginThrottle, user: string, addr: string): Promise<LoginAttempt | number> {
    try {
      return await th.reserve(user, addr);
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_TOO_MANY_REQUESTS')) throw err;
      return err.details.retryAfterSeconds as number;
    }
  }
  const fail = async (th: LoginThrottle, user: string, addr: string) => {
    const a = await attempt(th, user, addr);
    if (typeof a === 'number') throw new Error(`refused for ${a} s`);
    await a.failed();
  };
  const refused = async (th: LoginThrottle, user: string, addr: string): Promise<number | undefined> => {
    const a = await attempt(th, user, addr);
    if (typeof a === 'number') return a;
    await a.abandoned();
    return undefined;
  };

  it('refuses after maxFailures, with a delay that doubles per lockout and is capped', async () => {
    let now = 1_000_000;
    const th = new LoginThrottle(config, () => now);
    await fail(th, 'bob', '10.0.0.1');
    await fail(th, 'bob', '10.0.0.1');
    expect(await refused(th, 'bob', '10.0.0.1')).toBeUndefined();
    await fail(th, 'bob', '10.0.0.1');
    expect(await refused(th, 'bob', '10.0.0.1')).toBe(10);
    now += 10_001;
    for (let i = 0; i < 3; i++) await fail(th, 'bob', '10.0.0.1'); // a second full count: second lockout, doubled
    expect(await refused(th, 'bob', '10.0.0.1')).toBe(20);
    now += 20_001;
    for (let i = 0; i < 3; i++) await fail(th, 'bob', '10.0.0.1');
    expect(await refused(th, 'bob', '10.0.0.1')).toBe(25); // capped at maxDelaySeconds
  });

  it('takes the failure slot before the work: parallel guesses cannot outrun the count', async () => {
    const th = new LoginThrottle(config, () => 0);
    const running = await Promise.all([attempt(th, 'bob', '10.0.0.1'), attempt(th, 'bob', '10.0.0.1'), attempt(th, 'bob', '10.0.0.1'), attempt(th, 'bob', '10.0.0.1')]);
    expect(running.filter((a) => typeof a !== 'number')).toHaveLength(3);
    expect(typeof running[3]).toBe('number'); // 4th refused while 3 are still running
    for (const a of running.slice(0, 3)) await (a as LoginAttempt).failed();
    expect(await refused(th, 'bob', '10.0.0.1')).toBe(10);
  });

  it('a slot never settled (its process died) lapses after two minutes', async () => {
    let now = 0;
    const th = new LoginThrottle(config, () => now);
    for (let i = 0; i < 3; i++) expect(typeof (await attempt(th, 'bob', '10.0.0.1'))).not.toBe('number');
    expect(await refused(th, 'bob', '10.0.0.1')).toBe(1);
    now = 120_001;
    expect(await refused(th, 'bob', '10.0.0.1')).toBeUndefined();
  });

  it('keys on (user, address) and on address, never on the user alone', async () => {
    const now = 5_000_000;
    const th = new LoginThrottle(config, () => now);
    for (let i = 0; i < 3; i++) await fail(th, 'carol', '6.6.6.6');
    expect(await refused(th, 'carol', '6.6.6.6')).toBeGreaterThan(0);
    expect(await refused(th, 'carol', '9.9.9.9')).toBeUndefined(); // the victim elsewhere is not locked out
    expect(await refused(th, 'dave', '6.6.6.6')).toBeUndefined(); // 3 of 6 address failures so far
    for (const user of ['u1', 'u2', 'u3']) await fail(th, user, '6.6.6.6');
    expect(await refused(th, 'erin', '6.6.6.6')).toBeGreaterThan(0); // the address as a whole (6)
    expect(await refused(th, 'erin', '7.7.7.7')).toBeUndefined();
  });

  it('a success clears the (user, address) record and gives the address slot back; settling twice is ignored', async () => {
    const th = new LoginThrottle(config, () => 0);
    await fail(th, 'f', 'a');
    await fail(th, 'f', 'a');
    const ok = await th.reserve('f', 'a');
    await ok.succeeded();
    await ok.failed();
    await fail(th, 'f', 'a');
    await fail(th, 'f', 'a');
    expect(await refused(th, 'f', 'a')).toBeUndefined();
  });

  it('two throttles on one store (two workers) count the same failures; other scopes do not', async () => {
    const store = new Keyv();
    const w1 = new LoginThrottle(config, Date.now, { store });
    const w2 = new LoginThrottle(config, Date.now, { store });
    const shares = new LoginThrottle(config, Date.now, { store, scope: 'share' });
    await fail(w1, 'bob', '10.0.0.9');
    await fail(w2, 'bob', '10.0.0.9');
    await fail(w1, 'bob', '10.0.0.9');
    expect(await refused(w2, 'bob', '10.0.0.9')).toBe(10);
    expect(await refused(shares, 'bob', '10.0.0.9')).toBeUndefined();
  });

  it('keeps no user name, address or password in the store, and every entry expires', async () => {
    const store = new Keyv();
    const keys: string[] = [];
    const ttls: (number | undefined)[] = [];
    const set = store.set.bind(store);
    store.set = (async (key: string, value: unknown, ttl?: number) => { keys.push(key, JSON.stringify(value)); ttls.push(ttl); return set(key, value, ttl); }) as typeof store.set;
    const th = new LoginThrottle(config, Date.now, { store });
    await fail(th, 'mallory-name', '203.0.113.77');
    expect(keys.join(' ')).not.toMatch(/mallory|203\.0\.113/);
    expect(ttls.every((t) => t !== undefined && t > 0 && t <= 120_000 + 60_000 + 25_000)).toBe(true);
  });
});

describe('Argon2Gate', () => {
  const tick = () => new Promise((r) => setImmediate(r));
  it('runs at most `concurrency` at once, one per user name, and refuses beyond the queue with DC_ERR_BUSY', async () => {
    const gate = new Argon2Gate(2, 3);
    const started: string[] = [];
    const release = new Map<string, () => void>();
    const job = (id: string) => () => new Promise<string>((resolve) => { started.push(id); release.set(id, () => resolve(id)); });
    const results = [gate.run('alice', job('a1')), gate.run('alice', job('a2')), gate.run('bob', job('b1')), gate.run('carol', job('c1'))];
    await tick();
    expect(started).toEqual(['a1', 'b1']); // a2 waits for a1 (same user), c1 for a free slot
    expect(gate.load).toEqual({ active: 2, queued: 2 });
    results.push(gate.run('dave', job('d1'))); // queue now 3 = full
    const refused = await gate.run('erin', job('e1')).catch((e: unknown) => e);
    expect(isDavcryptError(refused, 'DC_ERR_BUSY')).toBe(true);
    release.get('a1')!();
    await tick();
    expect(started).toEqual(['a1', 'b1', 'a2']);
    for (const id of ['b1', 'a2']) { release.get(id)!(); await tick(); }
    expect(started.slice(3).sort()).toEqual(['c1', 'd1']);
    for (const id of ['c1', 'd1']) release.get(id)!();
    expect(await Promise.all(results)).toEqual(['a1', 'a2', 'b1', 'c1', 'd1']);
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
