// [harden] Fair login throttling on the composed gateway, attacked as a guesser would:
// parallel wrong guesses cannot outrun the failure count; a guesser elsewhere locks
// nobody out (verified sessions are never throttled; limits key on (user, address)
// and address); behind a trusted reverse proxy each client counts on its own, and an
// untrusted peer's X-Forwarded-For is ignored; a burst of wrong logins leaves a
// verified user's GET fast (bounded argon2 gate); failed and throttled logins are
// logged at warn with user and client, matching the README's fail2ban filter.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

async function get(gw: TestGateway, path: string, auth: string, from?: string): Promise<number> {
  const res = await request(new URL(path, gw.url), { headers: { authorization: auth, ...(from ? { 'x-forwarded-for': from } : {}) } });
  await res.body.dump();
  return res.statusCode;
}

function capturingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk).trim()); cb(); } });
  // The production JSON shape (timestamp + json: keys sorted), as createLogger writes it.
  const logger = winston.createLogger({ level: 'info', format: winston.format.combine(winston.format.timestamp(), winston.format.json()), transports: [new winston.transports.Stream({ stream: sink })] });
  return { logger, lines };
}

let gw: TestGateway | undefined;
afterEach(async () => { await gw?.close(); gw = undefined; });

describe('throttling that holds against guessers and does not lock the victim out', () => {
  it('29 parallel wrong guesses: only maxFailures reach argon2, and the right password is then refused too', async () => {
    gw = await startTestGateway({ users: { alice: 'right-pw' }, encrypt: false });
    const stats = () => gw!.gateway.users.authenticator.stats().argon2;
    const before = stats();
    const statuses = await Promise.all(Array.from({ length: 29 }, (_, i) => get(gw!, '/', basic('alice', `guess-${i}`))));
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(24);
    expect(stats() - before).toBe(5);
    expect(await get(gw, '/', basic('alice', 'right-pw'))).toBe(429); // a fresh login from the guessing address
  });

  it('a verified session keeps working while a guesser elsewhere fails; other users and addresses are not locked out', async () => {
    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' }, encrypt: false,
      config: { server: { trustedProxies: ['127.0.0.1'] }, auth: { throttle: { maxFailures: 5, windowSeconds: 60, baseDelaySeconds: 300 } } },
    });
    expect(await get(gw, '/', basic('alice', 'alice-pw'), '198.51.100.1')).toBe(200); // verified, cached
    const guesses = [];
    for (let i = 0; i < 12; i++) guesses.push(await get(gw, '/', basic('alice', `x${i}`), '203.0.113.66'));
    expect(guesses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(guesses.slice(5).every((s) => s === 429)).toBe(true);
    for (let i = 0; i < 12; i++) await get(gw, '/', basic('bob', `x${i}`), '203.0.113.66');
    // The victims: her verified session, her fresh login from home, bob's first login from his address.
    expect(await get(gw, '/', basic('alice', 'alice-pw'), '198.51.100.1')).toBe(200);
    expect(await get(gw, '/', basic('alice', 'alice-pw'), '198.51.100.2')).toBe(200);
    expect(await get(gw, '/', basic('bob', 'bob-pw'), '198.51.100.3')).toBe(200);
    // The guessing address as a whole is refused once it reaches maxFailuresPerAddress (20 failures; refusals do not count).
    for (let i = 0; i < 10; i++) expect(await get(gw, '/', basic(`user${i}`, 'x'), '203.0.113.66')).toBe(401);
    expect(await get(gw, '/', basic('carol', 'x'), '203.0.113.66')).toBe(429);
  });

  it('the Nextcloud endpoints throttle by the client a trusted proxy names, not by the proxy', async () => {
    gw = await startTestGateway({
      users: { alice: 'alice-pw' }, encrypt: false,
      config: { server: { trustedProxies: ['127.0.0.1'] }, auth: { throttle: { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 300 } } },
    });
    const ocs = '/ocs/v1.php/cloud/user?format=json';
    const guesses = [];
    for (let i = 0; i < 5; i++) guesses.push(await get(gw, ocs, basic('alice', `x${i}`), '203.0.113.66'));
    expect(guesses).toEqual([401, 401, 401, 429, 429]);
    // Per proxy address, alice's own first login through the same proxy would be refused too.
    expect(await get(gw, ocs, basic('alice', 'alice-pw'), '198.51.100.9')).toBe(200);
  });

  it("an untrusted peer's X-Forwarded-For is ignored: rotating it does not evade the address limit", async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, encrypt: false });
    const statuses = [];
    for (let i = 0; i < 25; i++) statuses.push(await get(gw, '/', basic(`user${i}`, 'x'), `192.0.2.${i}`));
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
  });

  it('a burst of 200 wrong logins: argon2 bounded (queue overflow 503 + Retry-After), a verified GET stays fast', async () => {
    gw = await startTestGateway({
      users: { alice: 'alice-pw' }, encrypt: false,
      config: {
        server: { trustedProxies: ['127.0.0.1'] },
        keys: { argon2: { m: 16384, t: 2, p: 1 } },
        auth: { argon2Concurrency: 2, argon2Queue: 16 },
      },
    });
    await gw.gateway.users.accounts.add('victim', 'victim-pw'); // envelope with the heavier parameters
    expect(await get(gw, '/', basic('alice', 'alice-pw'))).toBe(200);
    // 200 addresses guessing 200 names: no throttle stops them, only the gate bounds the work.
    const burst = Array.from({ length: 200 }, (_, i) => request(new URL('/', gw!.url), {
      headers: { authorization: basic(i % 2 ? 'victim' : `nobody${i}`, `guess-${i}`), 'x-forwarded-for': `10.9.${i >> 8}.${i & 255}` },
    }).then(async (r) => { await r.body.dump(); return { status: r.statusCode, retry: r.headers['retry-after'] }; }));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    expect(await get(gw, '/', basic('alice', 'alice-pw'))).toBe(200);
    const verifiedMs = performance.now() - t0;
    const results = await Promise.all(burst);
    const burstMs = performance.now() - t0;
    const busy = results.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.every((r) => r.retry === '1')).toBe(true);
    expect(results.every((r) => r.status === 401 || r.status === 503)).toBe(true);
    expect(gw.gateway.users.authenticator.stats().argon2).toBeLessThan(200); // overflow never ran argon2
    // Unbounded, the GET's file read waited behind every argon2 on libuv's pool (the whole burst, 115 s
    // with the default cost in bench/login-burst.ts); bounded, it is served while the burst still runs.
    expect(verifiedMs).toBeLessThan(Math.max(250, burstMs / 2));
    expect(verifiedMs).toBeLessThan(3000);
  });

  it('failed and throttled logins are logged at warn with user and client; the README fail2ban filter matches them', async () => {
    const { logger, lines } = capturingLogger();
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, encrypt: false, logger, config: { server: { trustedProxies: ['127.0.0.1'] } } });
    for (let i = 0; i < 6; i++) await get(gw, '/', basic('alice', `bad${i}`), '203.0.113.9');
    await get(gw, '/', basic('evil"name', 'x'), '203.0.113.10');
    await new Promise((r) => setTimeout(r, 50));
    const failed = lines.filter((l) => l.includes('"login failed"'));
    const throttled = lines.filter((l) => l.includes('"login throttled"'));
    expect(failed.length).toBe(6);
    expect(throttled.length).toBe(1);
    expect(JSON.parse(failed[0]!)).toMatchObject({ level: 'warn', user: 'alice', client: '203.0.113.9' });
    expect(JSON.parse(failed[5]!)).toMatchObject({ user: '(invalid name)', client: '203.0.113.10' });
    expect(lines.join('\n')).not.toContain('bad1');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const failregex = /^failregex = (.+)$/m.exec(readme)![1]!;
    // fail2ban's <HOST> is an address group; the rest is a Python regex that JavaScript reads the same way.
    const re = new RegExp(failregex.replace('<HOST>', '(?<host>[0-9a-fA-F:.]+)'));
    const hosts = [...failed, ...throttled].map((l) => re.exec(l)?.groups?.host);
    expect(hosts).toEqual([...Array(5).fill('203.0.113.9'), '203.0.113.10', '203.0.113.9']);
    expect(lines.filter((l) => re.test(l) && !/login (failed|throttled)/.test(l))).toEqual([]);
  });
});

describe('README claims', () => {
  it('documents every server.limits key and the fail2ban filter', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const key of ['xmlBodyBytes', 'deadPropsPerResource', 'deadPropBytesPerResource', 'deadPropBytesPerMount', 'propValueBytes', 'lockOwnerBytes', 'locksPerUser', 'propfindProps', 'trustedProxies', 'maxFailuresPerAddress', 'argon2Concurrency', 'argon2Queue', 'failregex']) {
      expect(readme).toContain(key);
    }
  });
});
