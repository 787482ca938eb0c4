// Two real gateway instances on one storage folder and one redis-server store share what a
// request decides that another depends on: failed logins alternating between them lock out
// after maxFailures; the Nextcloud folder ETags are the same on both and move for a change
// made through either; a login flow v2 started on one is granted and polled on the other.
// Skips with a reason when redis-server is missing.
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayPair, type TestGateway } from '../helpers/gateway.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';

if (redisSkipReason) console.log(`multi-instance-shared-state: skipped: ${redisSkipReason}`);

const USERS = { alice: 'alice-password' };
const OC = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(redisSkipReason !== undefined)('two gateway instances on one Redis store share throttle, folder ETags and login flows', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    redis = await startRedis();
    ({ a, b } = await startGatewayPair(redis.url, USERS, {
      auth: { throttle: { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 60, maxDelaySeconds: 60 } },
    }));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await redis?.stop();
  });

  async function call(gw: TestGateway, method: string, path: string, opts: { auth?: string; headers?: Record<string, string>; body?: string } = {}) {
    const res = await request(new URL(path, gw.url), {
      method: method as 'GET',
      headers: { ...(opts.auth !== '' ? { authorization: opts.auth ?? gw.authHeader('alice') } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  it('failed logins alternating between the instances lock out after maxFailures (3)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const gw = i % 2 ? b : a;
      statuses.push((await call(gw, 'PROPFIND', '/', { auth: 'Basic ' + Buffer.from(`mallory:guess-${i}`).toString('base64'), headers: { depth: '0' } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]); // per instance: six 401s
  });

  it('Nextcloud folder ETags are the same on both instances and move for a change made through the other', async () => {
    const etag = async (gw: TestGateway) =>
      /<D:getetag>([^<]*)<\/D:getetag>/.exec((await call(gw, 'PROPFIND', '/remote.php/dav/files/alice/', { headers: { depth: '0' }, body: OC })).text)?.[1];
    await sleep(600);
    const before = await etag(a);
    expect(before).toBeTruthy();
    expect(await etag(b)).toBe(before);
    expect((await call(b, 'PUT', '/remote.php/dav/files/alice/from-b.txt', { body: 'b' })).status).toBe(201);
    await sleep(100);
    const after = await etag(a);
    expect(after).not.toBe(before);
    expect(await etag(b)).toBe(after);
    expect((await call(a, 'PUT', '/plain-from-a.txt', { body: 'a' })).status).toBe(201);
    await sleep(600); // a plain WebDAV change is published within 250 ms
    expect(await etag(b)).not.toBe(after);
  });

  it('a login flow v2 started on A is shown and granted on B and polled on A, once', async () => {
    const start = await call(a, 'POST', '/index.php/login/v2', { auth: '', headers: { 'user-agent': 'two-instance app' } });
    expect(start.status).toBe(200);
    const flow = JSON.parse(start.text) as { poll: { token: string }; login: string };
    const loginPath = new URL(flow.login).pathname;
    const page = await call(b, 'GET', loginPath, { auth: '' });
    expect(page.status).toBe(200);
    expect(page.text).toContain('two-instance app');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await call(b, 'POST', loginPath, { auth: '', headers: form, body: new URLSearchParams({ user: 'alice', password: USERS.alice }).toString() })).status).toBe(200);
    const polled = await call(a, 'POST', '/index.php/login/v2/poll', { auth: '', headers: form, body: `token=${flow.poll.token}` });
    expect(polled.status).toBe(200);
    expect(JSON.parse(polled.text)).toMatchObject({ loginName: 'alice', appPassword: USERS.alice });
    expect((await call(b, 'POST', '/index.php/login/v2/poll', { auth: '', headers: form, body: `token=${flow.poll.token}` })).status).toBe(404);
  });

  it('the store holds neither login-flow token nor the granted password in clear', async () => {
    const start = await call(a, 'POST', '/index.php/login/v2', { auth: '' });
    const flow = JSON.parse(start.text) as { poll: { token: string }; login: string };
    const loginToken = flow.login.slice(flow.login.lastIndexOf('/') + 1);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await call(b, 'POST', new URL(flow.login).pathname, { auth: '', headers: form, body: new URLSearchParams({ user: 'alice', password: USERS.alice }).toString() })).status).toBe(200);
    // Every key and string value in Redis (keyv keeps strings).
    const script = "local out = {} for _, k in ipairs(redis.call('KEYS', '*')) do table.insert(out, k) " +
      "if redis.call('TYPE', k).ok == 'string' then table.insert(out, redis.call('GET', k)) end end return out";
    const cli = spawnSync('redis-cli', ['-p', String(redis.port), 'EVAL', script, '0'], { encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    const dump = cli.stdout;
    expect(dump).toContain('nextcloud:flow:');
    expect(dump).not.toContain(loginToken);
    expect(dump).not.toContain(flow.poll.token);
    expect(dump).not.toContain(USERS.alice);
  });
});
