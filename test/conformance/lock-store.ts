// The LockStore contract as one vitest suite, run against every implementation
// (KeyvLockStore on memory:// and sqlite:// in test/integration, RedisLockStore in
// test/interop): conflicts (scope, depth, ancestors/descendants), refresh, release,
// removeUnder, expiry, mount separation, concurrent acquire, field round-trip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLockToken, type LockDepth, type LockRecord, type LockScope, type LockStore } from '../../src/server/lock-store.js';
import { sharedMountId, type MountId } from '../../src/keys/mount-id.js';

export interface LockStoreFixture {
  store: LockStore;
  close(): Promise<void>;
}

let mountCounter = 0;
/** A mount id not used by any other test (stores may be shared between tests). */
export function freshMount(): MountId {
  return sharedMountId(`/m${process.pid}-${Date.now()}-${++mountCounter}`);
}

export function makeLock(path: string, opts: { scope?: LockScope; depth?: LockDepth; timeoutSeconds?: number; ownerXml?: string; principal?: string } = {}): LockRecord {
  const timeoutSeconds = opts.timeoutSeconds ?? 600;
  return {
    token: newLockToken(),
    path,
    scope: opts.scope ?? 'exclusive',
    depth: opts.depth ?? '0',
    ...(opts.ownerXml !== undefined ? { ownerXml: opts.ownerXml } : {}),
    principal: opts.principal ?? 'alice',
    timeoutSeconds,
    expiresAt: Date.now() + timeoutSeconds * 1000,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function lockStoreContract(name: string, open: () => Promise<LockStoreFixture>): void {
  describe(`LockStore contract: ${name}`, () => {
    let fx: LockStoreFixture;
    let s: LockStore;
    beforeAll(async () => {
      fx = await open();
      s = fx.store;
    });
    afterAll(async () => fx?.close());

    it('acquire then list returns the record with every field', async () => {
      const m = freshMount();
      const ownerXml = '<D:owner xmlns:D="DAV:"><D:href>mailto:ä@x "q"\n</D:href></D:owner>';
      const wanted = makeLock('/dir/Ünïcode file.txt', { ownerXml, depth: 'infinity', timeoutSeconds: 120, principal: 'bob' });
      const got = await s.acquire(m, wanted);
      expect(got.token).toBe(wanted.token);
      expect(Math.abs(got.expiresAt - wanted.expiresAt)).toBeLessThan(2000);
      const listed = await s.list(m);
      expect(listed).toHaveLength(1);
      const l = listed[0]!;
      expect({ ...l, expiresAt: 0 }).toEqual({ ...wanted, expiresAt: 0 });
      expect(Math.abs(l.expiresAt - wanted.expiresAt)).toBeLessThan(2000);
      expect(await s.list(freshMount())).toEqual([]);
    });

    it('maxPerPrincipal bounds the live locks one user holds in a mount (DC_ERR_LIMIT_EXCEEDED), others unaffected', async () => {
      const m = freshMount();
      for (let i = 0; i < 3; i++) await s.acquire(m, makeLock(`/q${i}`, { principal: 'mallory' }), { maxPerPrincipal: 3 });
      const refused = await s.acquire(m, makeLock('/q3', { principal: 'mallory' }), { maxPerPrincipal: 3 }).catch((e: unknown) => e);
      expect((refused as { code?: string }).code).toBe('DC_ERR_LIMIT_EXCEEDED');
      await s.acquire(m, makeLock('/q4', { principal: 'alice' }), { maxPerPrincipal: 3 });
      await s.acquire(freshMount(), makeLock('/q5', { principal: 'mallory' }), { maxPerPrincipal: 3 });
      const first = (await s.list(m)).find((l) => l.path === '/q0')!;
      expect(await s.release(m, first.token)).toBe(true);
      await s.acquire(m, makeLock('/q6', { principal: 'mallory' }), { maxPerPrincipal: 3 });
      expect((await s.list(m)).filter((l) => l.principal === 'mallory')).toHaveLength(3);
    });

    it('exclusive conflicts with anything on the same resource; shared with shared does not', async () => {
      const m = freshMount();
      await s.acquire(m, makeLock('/a', { scope: 'shared' }));
      await s.acquire(m, makeLock('/a', { scope: 'shared' }));
      await expect(s.acquire(m, makeLock('/a', { scope: 'exclusive' }))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      const m2 = freshMount();
      await s.acquire(m2, makeLock('/a'));
      await expect(s.acquire(m2, makeLock('/a'))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      await expect(s.acquire(m2, makeLock('/a', { scope: 'shared' }))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      expect(await s.list(m)).toHaveLength(2);
      expect(await s.list(m2)).toHaveLength(1);
    });

    it('depth infinity covers descendants both ways; depth 0 and name prefixes do not', async () => {
      const m = freshMount();
      await s.acquire(m, makeLock('/a', { depth: 'infinity' }));
      await expect(s.acquire(m, makeLock('/a/b/c'))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      await s.acquire(m, makeLock('/ab')); // '/ab' is not inside '/a'
      const m2 = freshMount();
      await s.acquire(m2, makeLock('/x/y/z'));
      await expect(s.acquire(m2, makeLock('/x', { depth: 'infinity' }))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      await s.acquire(m2, makeLock('/x', { depth: '0' })); // a depth-0 folder lock does not cover members
      await expect(s.acquire(m2, makeLock('/', { depth: 'infinity' }))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      const m3 = freshMount();
      await s.acquire(m3, makeLock('/', { depth: 'infinity', scope: 'shared' }));
      await expect(s.acquire(m3, makeLock('/deep/file'))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      await s.acquire(m3, makeLock('/deep/file', { scope: 'shared' }));
    });

    it('refresh extends a live lock and updates its timeout; unknown tokens give undefined', async () => {
      const m = freshMount();
      const l = await s.acquire(m, makeLock('/r', { timeoutSeconds: 5 }));
      const r = await s.refresh(m, l.token, 900);
      expect(r?.token).toBe(l.token);
      expect(r?.timeoutSeconds).toBe(900);
      expect(r!.expiresAt).toBeGreaterThan(Date.now() + 890_000);
      const listed = await s.list(m);
      expect(listed[0]!.timeoutSeconds).toBe(900);
      expect(Math.abs(listed[0]!.expiresAt - r!.expiresAt)).toBeLessThan(1000);
      expect(await s.refresh(m, newLockToken(), 60)).toBeUndefined();
      expect(await s.refresh(freshMount(), l.token, 60)).toBeUndefined();
    });

    it('release removes only the named lock and frees the resource', async () => {
      const m = freshMount();
      const a = await s.acquire(m, makeLock('/f'));
      const b = await s.acquire(m, makeLock('/g'));
      expect(await s.release(m, newLockToken())).toBe(false);
      expect(await s.release(freshMount(), a.token)).toBe(false);
      expect(await s.release(m, a.token)).toBe(true);
      expect(await s.release(m, a.token)).toBe(false);
      expect((await s.list(m)).map((l) => l.token)).toEqual([b.token]);
      await s.acquire(m, makeLock('/f'));
    });

    it('removeUnder drops locks rooted at or below the path, keeps the rest', async () => {
      const m = freshMount();
      for (const p of ['/d', '/d/x', '/d/x/y', '/dd', '/e']) await s.acquire(m, makeLock(p));
      await s.removeUnder(m, '/d');
      expect((await s.list(m)).map((l) => l.path).sort()).toEqual(['/dd', '/e']);
      await s.removeUnder(m, '/nothing');
      await s.removeUnder(m, '/');
      expect(await s.list(m)).toEqual([]);
    });

    it('expired locks are ignored: not listed, not conflicting, not refreshable, not releasable', async () => {
      const m = freshMount();
      const short = await s.acquire(m, makeLock('/t', { timeoutSeconds: 1 }));
      const long = await s.acquire(m, makeLock('/u', { timeoutSeconds: 600 }));
      await expect(s.acquire(m, makeLock('/t'))).rejects.toMatchObject({ code: 'DC_ERR_LOCKED' });
      await sleep(1300);
      expect((await s.list(m)).map((l) => l.token)).toEqual([long.token]);
      expect(await s.refresh(m, short.token, 60)).toBeUndefined();
      expect(await s.release(m, short.token)).toBe(false);
      await s.acquire(m, makeLock('/t'));
      expect(await s.list(m)).toHaveLength(2);
    });

    it('50 concurrent exclusive acquires of one resource: exactly one wins', async () => {
      const m = freshMount();
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => s.acquire(m, makeLock('/race', { depth: 'infinity' }))));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'DC_ERR_LOCKED' });
      expect(await s.list(m)).toHaveLength(1);
    });
  });
}
