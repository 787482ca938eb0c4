// RedisMutex (createStoreMutex on redis://) against a real redis-server, with each
// "instance" a separate store connection: mutual exclusion of read-modify-write, the
// wait limit, lease renewal while held, lease expiry of a dead holder, and that a stale
// holder never deletes a newer holder's lease. Skips with a reason without redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Keyv from 'keyv';
import { closeStore, createStore, luaScript, redisStoreOf } from '../../src/store.js';
import { createStoreMutex, RedisMutex } from '../../src/store-mutex.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';

if (redisSkipReason) console.log(`multi-instance-mutex: skipped: ${redisSkipReason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let nameCounter = 0;
const freshName = () => `t${process.pid}-${Date.now()}-${++nameCounter}`;

describe.skipIf(redisSkipReason !== undefined)('RedisMutex across connections', () => {
  let redis: TestRedis;
  let stores: Keyv[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    stores = await Promise.all(Array.from({ length: 3 }, () => createStore(redis.url)));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => closeStore(s)));
    await redis?.stop();
  });

  it('read-modify-write from three instances loses no update', async () => {
    const mutexes = stores.map((s) => createStoreMutex(s));
    expect(mutexes[0]).toBeInstanceOf(RedisMutex);
    const name = freshName();
    await stores[0]!.set(`counter:${name}`, 0);
    await Promise.all(Array.from({ length: 45 }, (_, i) => mutexes[i % 3]!.run(name, async () => {
      const s = stores[i % 3]!;
      const n = (await s.get(`counter:${name}`)) as number;
      await sleep(1);
      await s.set(`counter:${name}`, n + 1);
    })));
    expect(await stores[1]!.get(`counter:${name}`)).toBe(45);
    // Released: the key is gone.
    const raw = redisStoreOf(stores[0]!)!;
    expect(Number(await raw.evalScript(luaScript("return redis.call('EXISTS', KEYS[1])"), [`davcrypt::mutex:${name}`], []))).toBe(0);
  });

  it('gives up after waitMs with DC_ERR_INTERNAL while another instance holds it', async () => {
    const [a, b] = [createStoreMutex(stores[0]!), createStoreMutex(stores[1]!)];
    const name = freshName();
    let release!: () => void;
    const held = a.run(name, () => new Promise<void>((r) => { release = r; }));
    await sleep(20);
    const t0 = Date.now();
    await expect(b.run(name, async () => 1, { waitMs: 200 })).rejects.toMatchObject({ code: 'DC_ERR_INTERNAL' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    release();
    await held;
    expect(await b.run(name, async () => 2, { waitMs: 1000 })).toBe(2);
  });

  it('renews the lease while the holder runs longer than the lease', async () => {
    const [a, b] = [createStoreMutex(stores[0]!, { leaseMs: 200 }), createStoreMutex(stores[1]!, { leaseMs: 200 })];
    const name = freshName();
    let inside = 0;
    let maxInside = 0;
    const body = async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await sleep(700);
      inside--;
    };
    await Promise.all([a.run(name, body), sleep(50).then(() => b.run(name, body, { waitMs: 5000 }))]);
    expect(maxInside).toBe(1);
  });

  it('a dead holder\'s lease lapses; its late release does not free the new holder', async () => {
    const raw = redisStoreOf(stores[0]!)!;
    const m = new RedisMutex(redisStoreOf(stores[1]!)!, { leaseMs: 300 });
    const name = freshName();
    const key = m.keyOf(name);
    // A "crashed" instance took the mutex and never released it.
    expect(await raw.evalScript(luaScript("return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', 300)"), [key], ['dead-token'])).toBe('OK');
    const t0 = Date.now();
    await m.run(name, async () => {
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      // The dead holder's compare-and-delete must not remove our lease.
      const giveStale = luaScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0");
      expect(Number(await raw.evalScript(giveStale, [key], ['dead-token']))).toBe(0);
      expect(Number(await raw.evalScript(luaScript("return redis.call('EXISTS', KEYS[1])"), [key], []))).toBe(1);
    }, { waitMs: 3000 });
  });

  it('a closed store fails with DC_ERR_INTERNAL', async () => {
    const s = await createStore(redis.url);
    const m = createStoreMutex(s);
    await closeStore(s);
    await expect(m.run(freshName(), async () => 1)).rejects.toMatchObject({ code: 'DC_ERR_INTERNAL' });
  });
});
