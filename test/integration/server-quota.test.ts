// RFC 4331 quota over the embedded local storage: quota-used-bytes is what the user's own home
// stores (ciphertext), not the host file system's usage; another user's uploads do not show in it.
import { statfs } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE_CACHE_MS, UsageCache } from '../../src/backends/local-usage.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from 'undici';

const QUOTA_BODY = '<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>';

async function quotaOf(gw: TestGateway, user: string): Promise<{ used: number; available: number }> {
  const res = await request(new URL('/', gw.url), {
    method: 'PROPFIND', headers: { authorization: gw.authHeader(user), depth: '0', 'content-type': 'application/xml' }, body: QUOTA_BODY,
  });
  const text = await res.body.text();
  expect(res.statusCode).toBe(207);
  return {
    used: Number(/<D:quota-used-bytes>(\d+)</.exec(text)?.[1]),
    available: Number(/<D:quota-available-bytes>(\d+)</.exec(text)?.[1]),
  };
}

describe('quota of a local home', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
  });
  afterAll(async () => gw.close());

  it("quota-used-bytes is the user's own stored bytes, never the host disk's usage", async () => {
    const bobBefore = await quotaOf(gw, 'bob');
    expect((await gatewayRequest(gw, 'PUT', '/big.bin', { auth: gw.authHeader('alice'), body: patternBytes(200_000) })).status).toBe(201);
    const alice = await quotaOf(gw, 'alice');
    // 200 000 plaintext bytes stored encrypted (header + tags) plus her keyring: a little more, far less than a disk.
    expect(alice.used).toBeGreaterThan(200_000);
    expect(alice.used).toBeLessThan(220_000);
    const fs = await statfs(gw.storageRoot);
    expect(alice.used).toBeLessThan((fs.blocks - fs.bfree) * fs.bsize);
    expect(alice.available).toBeGreaterThan(0);
    const bob = await quotaOf(gw, 'bob');
    expect(bob.used).toBe(bobBefore.used); // alice's upload is not bob's usage
    expect(bob.used).toBeLessThan(10_000); // at most his keyring
  });

  it('a measured usage is reused for USAGE_CACHE_MS, then measured again', async () => {
    let now = 0;
    const cache = new UsageCache(gw.storageRoot, () => now);
    const first = await cache.bytes();
    expect((await gatewayRequest(gw, 'PUT', '/more.bin', { auth: gw.authHeader('bob'), body: patternBytes(50_000) })).status).toBe(201);
    expect(await cache.bytes()).toBe(first);
    now += USAGE_CACHE_MS;
    expect(await cache.bytes()).toBeGreaterThan(first + 50_000);
  });
});
