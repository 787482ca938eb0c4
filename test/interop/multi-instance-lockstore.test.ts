// RedisLockStore against a real redis-server: the shared LockStore contract, atomic
// acquire across separate connections (= separate gateway instances), namespaced keys
// with a TTL, and the store-level errors. Skips with a reason without redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLockStore, RedisLockStore } from '../../src/server/lock-store-redis.js';
import { closeStore, createStore, luaScript, redisStoreOf } from '../../src/store.js';
import { freshMount, lockStoreContract, makeLock } from '../conformance/lock-store.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';
import { formatMountId } from '../../src/keys/mount-id.js';

if (redisSkipReason) console.log(`multi-instance-lockstore: skipped: ${redisSkipReason}`);

describe.skipIf(redisSkipReason !== undefined)('RedisLockStore', () => {
  let redis: TestRedis;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => redis?.stop());

  lockStoreContract('RedisLockStore on redis://', async () => {
    const store = await createStore(redis.url);
    const locks = createLockStore(store);
    expect(locks).toBeInstanceOf(RedisLockStore);
    return { store: locks, close: () => closeStore(store) };
  });

  it('acquire is atomic across 10 connections: 50 racers on one folder tree, one winner', async () => {
    const stores = await Promise.all(Array.from({ length: 10 }, () => createStore(redis.url)));
    try {
      const lockStores = stores.map((s) => createLockStore(s));
      for (let round = 0; round < 5; round++) {
        const m = freshMount();
        // Mixed shapes that all conflict pairwise: infinity on the folder, files inside, the folder itself.
        const paths = ['/p', '/p/a', '/p/b/c', '/p'];
        const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) =>
          lockStores[i % 10]!.acquire(m, makeLock(paths[i % paths.length]!, { depth: i % 4 === 0 ? 'infinity' : '0' }))));
        const winners = results.filter((r) => r.status === 'fulfilled');
        const listed = await lockStores[0]!.list(m);
        // Two depth-0 locks on different files can coexist unless an infinity lock on /p won first.
        const infinityWon = listed.some((l) => l.depth === 'infinity');
        if (infinityWon) expect(listed).toHaveLength(1);
        expect(winners).toHaveLength(listed.length);
        expect(new Set(listed.map((l) => l.path)).size).toBe(listed.length); // never two exclusive on one path
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'DC_ERR_LOCKED' });
      }
      // The plain case: 50 racers on one path from 10 connections.
      const m = freshMount();
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => lockStores[i % 10]!.acquire(m, makeLock('/one'))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    } finally {
      await Promise.all(stores.map((s) => closeStore(s)));
    }
  });

  it('keys are namespaced like the keyv store and expire with the latest lock', async () => {
    const a = await createStore(redis.url);
    const other = await createStore(redis.url, 'elsewhere');
    try {
      const m = freshMount();
      const key = formatMountId(m); // the string its Redis key is built from
      const la = createLockStore(a);
      await la.acquire(m, makeLock('/n', { timeoutSeconds: 30 }));
      expect(await createLockStore(other).list(m)).toEqual([]);
      const raw = redisStoreOf(a)!;
      expect(raw.keyPrefix).toBe('davcrypt::');
      const pttl = luaScript("return redis.call('PTTL', KEYS[1])");
      const ttl = Number(await raw.evalScript(pttl, [`davcrypt::locks:${key}`], []));
      expect(ttl).toBeGreaterThan(25_000);
      expect(ttl).toBeLessThanOrEqual(30_000);
      // A keyv value under the same namespace is untouched by lock scripts, and vice versa.
      await a.set(`locks:${key}x`, 'plain');
      await la.removeUnder(m, '/');
      expect(await a.get(`locks:${key}x`)).toBe('plain');
      const exists = luaScript("return redis.call('EXISTS', KEYS[1])");
      expect(Number(await raw.evalScript(exists, [`davcrypt::locks:${key}`], []))).toBe(0);
    } finally {
      await closeStore(a);
      await closeStore(other);
    }
  });

  it('a closed connection fails with DC_ERR_STORE_UNAVAILABLE (503), not a crash', async () => {
    const s = await createStore(redis.url);
    const locks = createLockStore(s);
    await closeStore(s);
    await expect(locks.list(freshMount())).rejects.toMatchObject({ code: 'DC_ERR_STORE_UNAVAILABLE' });
  });
});
