// Two real gateway instances on one storage folder and one redis-server store: a lock
// taken on one instance is enforced, refreshed and released on the other; 50 LOCK
// racers split over both get exactly one lock; Timeout expiry holds across instances;
// litmus (basic, locks, props) through a per-request round-robin proxy over both.
// Skips with a reason when redis-server (or, for litmus, litmus) is missing.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayPair, type TestGateway } from '../helpers/gateway.js';
import { litmusUnavailable, runLitmusSuite } from '../helpers/litmus.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';

if (redisSkipReason) console.log(`multi-instance-gateway: skipped: ${redisSkipReason}`);
const litmusReason = redisSkipReason ?? litmusUnavailable();
if (litmusReason && !redisSkipReason) console.log(`multi-instance-gateway: litmus part skipped: ${litmusReason}`);

const USERS = { alice: 'alice-password' };
const LOCK_BODY = '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner><D:href>multi-instance-test</D:href></D:owner></D:lockinfo>';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(redisSkipReason !== undefined)('two gateway instances on one Redis store', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    redis = await startRedis();
    ({ a, b } = await startGatewayPair(redis.url, USERS));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await redis?.stop();
  });

  async function dav(gw: TestGateway, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
    const res = await request(new URL(path, gw.url), {
      method: method as 'GET',
      headers: { authorization: gw.authHeader('alice'), ...headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  async function lock(gw: TestGateway, path: string, headers: Record<string, string> = {}) {
    const r = await dav(gw, 'LOCK', path, { 'content-type': 'text/xml; charset="utf-8"', timeout: 'Second-600', ...headers }, LOCK_BODY);
    return { ...r, token: String(r.headers['lock-token'] ?? '').replace(/^<|>$/g, '') };
  }

  it('a LOCK on A is enforced on B; B writes with the token; B unlocks; A writes again', async () => {
    expect((await dav(a, 'PUT', '/shared.txt', {}, 'from A')).status).toBe(201);
    expect((await dav(b, 'GET', '/shared.txt')).text).toBe('from A'); // same storage and keys
    const l = await lock(a, '/shared.txt', { depth: '0' });
    expect(l.status).toBe(200);
    expect(l.token).toMatch(/^opaquelocktoken:/);

    expect((await dav(b, 'PUT', '/shared.txt', {}, 'B without token')).status).toBe(423);
    expect((await dav(b, 'DELETE', '/shared.txt')).status).toBe(423);
    expect((await dav(b, 'PUT', '/shared.txt', { if: `(<${l.token}>)` }, 'B with token')).status).toBe(204);
    expect((await dav(a, 'GET', '/shared.txt')).text).toBe('B with token');

    const discovery = await dav(b, 'PROPFIND', '/shared.txt', { depth: '0', 'content-type': 'text/xml' },
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>');
    expect(discovery.status).toBe(207);
    expect(discovery.text).toContain(l.token);

    expect((await dav(b, 'UNLOCK', '/shared.txt', { 'lock-token': `<${l.token}>` })).status).toBe(204);
    expect((await dav(a, 'UNLOCK', '/shared.txt', { 'lock-token': `<${l.token}>` })).status).toBe(409); // already gone
    expect((await dav(a, 'PUT', '/shared.txt', {}, 'A again')).status).toBe(204);
  });

  it('a refresh on B extends the lock A granted', async () => {
    expect((await dav(a, 'PUT', '/refresh.txt', {}, 'x')).status).toBe(201);
    const l = await lock(a, '/refresh.txt', { timeout: 'Second-2' });
    expect(l.status).toBe(200);
    const r = await dav(b, 'LOCK', '/refresh.txt', { if: `(<${l.token}>)`, timeout: 'Second-600' });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/Second-(59\d|600)/);
    await sleep(2500);
    expect((await dav(a, 'PUT', '/refresh.txt', {}, 'y')).status).toBe(423); // still locked after the first timeout
    expect((await dav(a, 'UNLOCK', '/refresh.txt', { 'lock-token': `<${l.token}>` })).status).toBe(204);
  });

  it('50 concurrent LOCKs split over both instances: exactly one wins', async () => {
    expect((await dav(a, 'PUT', '/race.txt', {}, 'r')).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => lock(i % 2 === 0 ? a : b, '/race.txt', { depth: '0' })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 423)).toHaveLength(49);
    const winner = results.find((r) => r.status === 200)!;
    expect((await dav(b, 'UNLOCK', '/race.txt', { 'lock-token': `<${winner.token}>` })).status).toBe(204);
  });

  it('50 concurrent LOCKs on an unmapped URL: one creates it (201), the rest get 423', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => lock(i % 2 === 0 ? b : a, '/race-new.txt', { depth: '0' })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200 || s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 423)).toHaveLength(49);
  });

  it('Timeout: Second-1 expires on both instances', async () => {
    expect((await dav(b, 'PUT', '/expire.txt', {}, 'e')).status).toBe(201);
    const l = await lock(a, '/expire.txt', { timeout: 'Second-1' });
    expect(l.status).toBe(200);
    expect((await dav(b, 'PUT', '/expire.txt', {}, 'too early')).status).toBe(423);
    await sleep(1300);
    expect((await dav(b, 'PUT', '/expire.txt', {}, 'after expiry')).status).toBe(204);
    expect((await dav(a, 'UNLOCK', '/expire.txt', { 'lock-token': `<${l.token}>` })).status).toBe(409);
    expect((await lock(b, '/expire.txt')).status).toBe(200);
  });

  it('a depth-infinity folder lock on B guards members on A; DELETE with the token on A frees it for B', async () => {
    expect((await dav(a, 'MKCOL', '/dir/')).status).toBe(201);
    const l = await lock(b, '/dir/', { depth: 'infinity' });
    expect(l.status).toBe(200);
    expect((await dav(a, 'PUT', '/dir/new.txt', {}, 'n')).status).toBe(423);
    expect((await lock(a, '/dir/inner.txt')).status).toBe(423);
    expect((await dav(a, 'PUT', '/dir/new.txt', { if: `(<${l.token}>)` }, 'n')).status).toBe(201);
    expect((await dav(a, 'DELETE', '/dir/', { if: `(<${l.token}>)` })).status).toBe(204);
    expect((await dav(b, 'MKCOL', '/dir/')).status).toBe(201);
    expect((await lock(b, '/dir/', { depth: 'infinity' })).status).toBe(200);
  });

  it('40 concurrent PROPPATCHes split over both instances lose no property', async () => {
    expect((await dav(a, 'MKCOL', '/props/')).status).toBe(201);
    await Promise.all(Array.from({ length: 8 }, (_, i) => dav(i % 2 ? a : b, 'PUT', `/props/f${i}.txt`, {}, 'p')));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => dav(i % 2 ? a : b, 'PROPPATCH', `/props/f${i % 8}.txt`, { 'content-type': 'text/xml' },
      `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test"><D:set><D:prop><Z:p${i}>v${i}</Z:p${i}></D:prop></D:set></D:propertyupdate>`)));
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(207));
    const listing = await dav(a, 'PROPFIND', '/props/', { depth: '1', 'content-type': 'text/xml' },
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>');
    expect(listing.status).toBe(207);
    const missing = Array.from({ length: 40 }, (_, i) => i).filter((i) => !new RegExp(`p${i}[^>]*>v${i}<`).test(listing.text));
    expect(missing).toEqual([]);
  });

  describe.skipIf(litmusReason !== undefined)('litmus through a round-robin proxy over A and B', () => {
    let proxy: Server;
    let proxyUrl: string;
    let served = [0, 0];
    beforeAll(async () => {
      let next = 0;
      served = [0, 0];
      proxy = createServer((req, res) => {
        const i = next++ % 2;
        served[i]!++;
        const target = new URL(i === 0 ? a.url : b.url);
        const up = httpRequest({ host: '127.0.0.1', port: Number(target.port), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        });
        up.on('error', () => { res.statusCode = 502; res.end(); });
        req.pipe(up);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
    });
    afterAll(async () => {
      proxy?.closeAllConnections();
      await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    });

    for (const suite of ['basic', 'locks', 'props']) {
      it(`litmus ${suite}: every test passes with requests alternating between instances`, async () => {
        expect((await dav(a, 'MKCOL', `/litmus-${suite}/`)).status).toBe(201);
        const before = [...served];
        const r = await runLitmusSuite(suite, `${proxyUrl}litmus-${suite}/`, 'alice', USERS.alice);
        expect(r.failures, r.output).toEqual([]);
        expect(r.failed).toBe(0);
        expect(r.passed).toBe(r.run);
        expect(served[0]! - before[0]!).toBeGreaterThan(5);
        expect(served[1]! - before[1]!).toBeGreaterThan(5);
      });
    }
  });
});
