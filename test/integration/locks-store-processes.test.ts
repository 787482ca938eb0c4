// The lock and dead-property stores, the login throttle and share-link download counts on
// sqlite:// are atomic across processes sharing the file (the workers of `davcrypt serve`,
// server.workers): two stores on two connections of one file, as two workers have, race
// LOCKs, PROPPATCHes, login slots and downloads. A per-process mutex loses
// these races (both connections read the same list before either writes).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyvLockStore, LOCK_LIST_KEEP_MS, newLockToken, type LockRecord } from '../../src/server/lock-store.js';
import { createLockStore } from '../../src/server/lock-store-redis.js';
import { PropStore } from '../../src/server/prop-store.js';
import { homeMountId } from '../../src/keys/mount-id.js';
import { LoginThrottle, type LoginAttempt } from '../../src/users/throttle.js';
import { ShareStore, type ShareRecord } from '../../src/web/share-store.js';
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

  it('login slots reserved at once over both connections: never more than maxFailures', async () => {
    const [a, b] = await twoConnections();
    const config = { maxFailures: 4, windowSeconds: 60, baseDelaySeconds: 30, maxDelaySeconds: 60, maxFailuresPerAddress: 100 };
    const throttles = [new LoginThrottle(config, Date.now, { store: a }), new LoginThrottle(config, Date.now, { store: b })];
    const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => throttles[i % 2]!.reserve('bob', '10.1.1.1')));
    const granted = results.filter((r): r is PromiseFulfilledResult<LoginAttempt> => r.status === 'fulfilled');
    expect(granted).toHaveLength(4);
    expect(results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as { code?: string }).code))
      .toEqual(Array(12).fill('DC_ERR_TOO_MANY_REQUESTS'));
    for (const g of granted) await g.value.failed();
    await expect(throttles[1]!.reserve('bob', '10.1.1.1')).rejects.toMatchObject({ code: 'DC_ERR_TOO_MANY_REQUESTS', details: { retryAfterSeconds: 30 } });
    for (const t of throttles) t.close();
  });

  it('a link with maxDownloads 3, downloaded 12 times at once over both connections, counts exactly 3', async () => {
    const [a, b] = await twoConnections();
    const argon2 = { m: 8192, t: 1, p: 1 };
    const stores = [new ShareStore(a, argon2), new ShareStore(b, argon2)];
    const { record } = await stores[0]!.create({ owner: 'alice', mountId: homeMountId('alice', '/'), urlPrefix: '', path: '/f.txt', folder: false, scope: 'read', expires: Date.now() + 60_000, maxDownloads: 3 });
    const counted = await Promise.all(Array.from({ length: 12 }, (_, i) => stores[i % 2]!.countDownload(record as ShareRecord)));
    expect(counted.filter(Boolean)).toHaveLength(3);
    expect(await stores[1]!.downloads(record)).toBe(3);
  });

  it('links made at once over both connections are all listed', async () => {
    const [a, b] = await twoConnections();
    const argon2 = { m: 8192, t: 1, p: 1 };
    const stores = [new ShareStore(a, argon2), new ShareStore(b, argon2)];
    await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.create({
      owner: 'alice', mountId: homeMountId('alice', '/'), urlPrefix: '', path: `/f${i}.txt`, folder: false, scope: 'read', expires: Date.now() + 60_000,
    })));
    expect(await stores[0]!.list('alice')).toHaveLength(10);
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
