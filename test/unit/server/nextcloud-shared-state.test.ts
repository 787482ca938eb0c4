// The Nextcloud state shared through the store: the change generation behind the folder ETags
// (publishes at most once per delay from plain WebDAV, at once from a sync client, and a read
// publishes what is pending first) and login flows v2 (started on one store handle, granted and
// collected once on another; the store holds neither token nor the password).
import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { homeMountId } from '../../../src/keys/mount-id.js';
import { SharedGeneration } from '../../../src/server/nextcloud/generation.js';
import { LoginFlows } from '../../../src/server/nextcloud/login-flows.js';
import { virtualFolder } from '../../../src/server/nextcloud/view.js';
import type { ResolvedMount } from '../../../src/users/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory Keyv that counts sets and keeps every value written (as JSON). */
function countingStore(): { store: Keyv; sets: () => number; written: string[] } {
  const store = new Keyv();
  const written: string[] = [];
  const set = store.set.bind(store);
  store.set = (async (key: string, value: unknown, ttl?: number) => { written.push(`${key} ${JSON.stringify(value)}`); return set(key, value, ttl); }) as typeof store.set;
  return { store, sets: () => written.length, written };
}

describe('SharedGeneration', () => {
  it('a burst of plain WebDAV changes costs one store write per delay, not one each', async () => {
    const { store, sets } = countingStore();
    const gen = new SharedGeneration(store, undefined, 50);
    await gen.start();
    const first = await gen.read();
    for (let i = 0; i < 1000; i++) gen.noteChange(false);
    expect(sets()).toBe(1); // only start() so far
    await sleep(120);
    expect(sets()).toBe(2);
    expect(await gen.read()).not.toBe(first);
    await gen.close();
  });

  it('two processes on one store read the same generation; a change in one moves it for the other', async () => {
    const { store } = countingStore();
    const a = new SharedGeneration(store, undefined, 50);
    const b = new SharedGeneration(store, undefined, 50);
    await a.start();
    const g = await a.read();
    expect(await b.read()).toBe(g);
    b.noteChange(true); // a sync client's own change: at once
    await sleep(10);
    const g2 = await a.read();
    expect(g2).not.toBe(g);
    expect(await b.read()).toBe(g2);
    a.noteChange(false);
    expect(await a.read()).not.toBe(g2); // a read publishes this process's pending change first
    await a.close();
    await b.close();
  });

  it('a mount point in an alias view has the ETag and date of the shared generation, whatever the process', async () => {
    const { store } = countingStore();
    const gen = new SharedGeneration(store);
    await gen.start();
    const g = await gen.read();
    const mount = (folderGeneration: string) => ({ urlPrefix: '/remote.php/webdav', id: homeMountId('alice', '/'), encrypted: true, folderGeneration }) as unknown as ResolvedMount;
    const v1 = virtualFolder([mount(g)], '/remote.php/webdav');
    const v2 = virtualFolder([mount(await new SharedGeneration(store).read())], '/remote.php/webdav');
    expect(v2.info.etag).toBe(v1.info.etag);
    expect(v2.info.lastModified).toEqual(v1.info.lastModified);
    expect(Math.abs(v1.info.lastModified!.getTime() - Date.now())).toBeLessThan(5_000);
    await gen.close();
  });

  it('close publishes a pending change', async () => {
    const { store } = countingStore();
    const a = new SharedGeneration(store, undefined, 10_000);
    await a.start();
    const g = await a.read();
    a.noteChange(false);
    await a.close();
    expect(await new SharedGeneration(store).read()).not.toBe(g);
  });
});

describe('LoginFlows', () => {
  it('started on one handle, granted on another, collected once; the store holds no token or password', async () => {
    const { store, written } = countingStore();
    const a = new LoginFlows(store);
    const b = new LoginFlows(store);
    const { loginToken, pollToken } = await a.start('test app');
    expect(await b.pending(loginToken)).toEqual({ app: 'test app' });
    expect(await a.collect(pollToken)).toBeUndefined(); // not granted yet
    expect(await b.grant(loginToken, { loginName: 'alice', appPassword: 'alice-secret-pw' })).toBe(true);
    expect(await a.pending(loginToken)).toBeUndefined();
    expect(await b.grant(loginToken, { loginName: 'mallory', appPassword: 'x' })).toBe(false); // granted once
    const got = await Promise.all([a.collect(pollToken), b.collect(pollToken)]);
    expect(got.filter(Boolean)).toEqual([{ loginName: 'alice', appPassword: 'alice-secret-pw' }]);
    const all = written.join('\n');
    for (const secret of [loginToken, pollToken, 'alice-secret-pw']) expect(all).not.toContain(secret);
  });

  it('a poll with a token of the wrong shape or unknown finds nothing', async () => {
    const flows = new LoginFlows();
    expect(await flows.collect('')).toBeUndefined();
    expect(await flows.collect('a'.repeat(64))).toBeUndefined();
    expect(await flows.pending('b'.repeat(64))).toBeUndefined();
  });
});
