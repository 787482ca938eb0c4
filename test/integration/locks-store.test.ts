// The LockStore contract (test/conformance/lock-store.ts) on the single-process
// KeyvLockStore over memory:// and sqlite:// stores, and createLockStore's choice
// for them. The Redis implementation runs the same suite in test/interop.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyvLockStore } from '../../src/server/lock-store.js';
import { createLockStore, RedisLockStore } from '../../src/server/lock-store-redis.js';
import { closeStore, createStore, redisStoreOf } from '../../src/store.js';
import { lockStoreContract } from '../conformance/lock-store.js';
import { makeTempDir } from '../helpers/tmp.js';

lockStoreContract('KeyvLockStore on memory://', async () => {
  const store = await createStore('memory://');
  return { store: createLockStore(store), close: () => closeStore(store) };
});

lockStoreContract('KeyvLockStore on sqlite://', async () => {
  const tmp = await makeTempDir('locks-sqlite');
  const store = await createStore(`sqlite://${join(tmp.path, 'davcrypt.sqlite')}`);
  return {
    store: createLockStore(store),
    async close() {
      await closeStore(store);
      await tmp.cleanup();
    },
  };
});

describe('createLockStore', () => {
  it('picks the in-process store for memory:// and sqlite:// (no raw redis handle)', async () => {
    const tmp = await makeTempDir('locks-pick');
    const mem = await createStore('memory://');
    const lite = await createStore(`sqlite://${join(tmp.path, 's.sqlite')}`);
    try {
      for (const s of [mem, lite]) {
        expect(redisStoreOf(s)).toBeUndefined();
        const ls = createLockStore(s);
        expect(ls).toBeInstanceOf(KeyvLockStore);
        expect(ls).not.toBeInstanceOf(RedisLockStore);
      }
    } finally {
      await closeStore(mem);
      await closeStore(lite);
      await tmp.cleanup();
    }
  });
});
