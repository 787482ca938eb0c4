// The lock and dead-property stores on sqlite:// are atomic across processes sharing the
// file (the workers of `davcrypt serve`, server.workers): two stores on two connections of
// one file, as two workers have, race LOCKs and PROPPATCHes. A per-process mutex loses
// these races (both connections read the same list before either writes).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyvLockStore, LOCK_LIST_KEEP_MS, newLockToken, type LockRecord } from '../../src/server/lock-store.js';
import { createLockStore } from '../../src/server/lock-store-redis.js';
import { PropStore } from '../../src/server/prop-store.js';
import { changeMarkerOf, closeStore, createStore } from '../../src/store.js';
import { createStoreMutex } from '../../src/store-mutex.js';
import type Keyv from 'keyv';
import { makeTempDir } from '../helpers/tmp.js';
import { sharedMountId } from '../../src/keys/mount-id.js';
import { mountStateKey } from '../../src/users/mount-state.js';

/** The state id of a test mount named `name`. */
const sid = (name: string) => sharedMountId('/' + name);

const lock = (path: string): LockRecord => ({
  token: newLockToken(), path, scope: 'exclusive', depth: '0', principal: 'alice', timeoutSeconds: 600, expiresAt: Date.now() + 600_000,
});

describe('sqlite stores shared by two connections (two worker processes)', () => {
  const opened: Keyv[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await closeStore(s);
  });
  async function twoConnections(): Promise<[Keyv, Keyv]> {
    const dir = await makeTempDir();
    const url = `sqlite://${join(dir.path, 'store.sqlite')}`;
    const a = await createStore(url);
    const b = await createStore(url);
    opened.push(a, b);
    return [a, b];
  }

  it('30 exclusive LOCKs on one path split over both: exactly one is granted', async () => {
    const [a, b] = await twoConnections();
    const stores = [createLockStore(a), createLockStore(b)];
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => stores[i % 2]!.acquire(sid('m1'), lock('/race.txt'))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code] : []));
    expect(codes).toEqual(Array(29).fill('DC_ERR_LOCKED'));
    expect(await stores[1]!.list(sid('m1'))).toHaveLength(1);
    expect(await stores[0]!.list(sid('m1'))).toHaveLength(1);
  });

  it('locks on different paths from both connections are all kept', async () => {
    const [a, b] = await twoConnections();
    const stores = [createLockStore(a), createLockStore(b)];
    await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.acquire(sid('m1'), lock(`/f${i}.txt`))));
    expect(await stores[0]!.list(sid('m1'))).toHaveLength(20);
  });

  it('dead properties set from both connections at once are all kept', async () => {
    const [a, b] = await twoConnections();
    const stores = [new PropStore(a), new PropStore(b)];
    await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.apply(sid('m1'), `/f${i}.txt`,
      [{ ns: 'urn:x', name: 'p', xml: `<p xmlns="urn:x">${i}</p>` }], [])));
    expect(Object.keys(await stores[1]!.forMount(sid('m1')))).toHaveLength(20);
  });

  it('a lock list kept by one connection is re-read as soon as the other changes a lock', async () => {
    const [a, b] = await twoConnections();
    const [sa, sb] = [createLockStore(a), createLockStore(b)];
    expect(await sb.list(sid('m1'))).toEqual([]);
    const l = await sa.acquire(sid('m1'), lock('/kept.txt'));
    expect((await sb.list(sid('m1'))).map((x) => x.token)).toEqual([l.token]);
    await sa.refresh(sid('m1'), l.token, 60);
    expect((await sb.list(sid('m1')))[0]!.timeoutSeconds).toBe(60);
    expect(await sa.release(sid('m1'), l.token)).toBe(true);
    expect(await sb.list(sid('m1'))).toEqual([]);
    await sb.acquire(sid('m1'), lock('/d/x.txt'));
    await sb.removeUnder(sid('m1'), '/d');
    expect(await sa.list(sid('m1'))).toEqual([]);
  });

  it('keeps the list without a store read while nothing changed, for at most LOCK_LIST_KEEP_MS', async () => {
    const [a, b] = await twoConnections();
    let now = Date.now();
    const kept = new KeyvLockStore(b, () => now, createStoreMutex(b), changeMarkerOf(b, 'locks'));
    expect(await kept.list(sid('m1'))).toEqual([]);
    // Written behind the lock store's back (no marker bump): only the time bound notices it.
    await a.set(`lock:${mountStateKey(sid('m1'))}`, [lock('/behind.txt')]);
    expect(await kept.list(sid('m1'))).toEqual([]);
    now += LOCK_LIST_KEEP_MS + 1;
    expect(await kept.list(sid('m1'))).toHaveLength(1);
    // Expiry is judged at each read, also on a kept list.
    now += 700_000;
    expect(await kept.list(sid('m1'))).toEqual([]);
  });
});
