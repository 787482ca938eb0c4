// createStoreMutex on the single-process stores (memory://, sqlite://): LocalMutex
// serializes read-modify-write per name, runs different names in parallel, rethrows
// and frees the mutex after a throw. The Redis variant is tested in test/interop.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeStore, createStore } from '../../src/store.js';
import { createStoreMutex, LocalMutex } from '../../src/store-mutex.js';
import { makeTempDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createStoreMutex on single-process stores', () => {
  it('serializes read-modify-write of a store value (sqlite://)', async () => {
    const tmp = await makeTempDir('mutex-sqlite');
    const store = await createStore(`sqlite://${join(tmp.path, 's.sqlite')}`);
    try {
      const mutex = createStoreMutex(store);
      expect(mutex).toBeInstanceOf(LocalMutex);
      await store.set('counter', 0);
      await Promise.all(Array.from({ length: 30 }, () => mutex.run('counter', async () => {
        const n = (await store.get('counter')) as number;
        await sleep(1);
        await store.set('counter', n + 1);
      })));
      expect(await store.get('counter')).toBe(30);
    } finally {
      await closeStore(store);
      await tmp.cleanup();
    }
  });

  it('different names do not wait for each other; a throw is rethrown and frees the name', async () => {
    const store = await createStore('memory://');
    const mutex = createStoreMutex(store);
    const order: string[] = [];
    let releaseA!: () => void;
    const holdA = mutex.run('a', () => new Promise<void>((r) => { releaseA = r; order.push('a-start'); }));
    await mutex.run('b', async () => { order.push('b'); });
    releaseA();
    await holdA;
    expect(order).toEqual(['a-start', 'b']);
    await expect(mutex.run('a', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await mutex.run('a', async () => 42)).toBe(42);
    await closeStore(store);
  });
});
