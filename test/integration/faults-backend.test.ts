// Runtime backend faults, through a stalling TCP proxy (test/helpers/stall-proxy.ts) between the
// gateway and its WebDAV backend (a second, plain davcrypt on local storage): a backend silent
// before its headers (504), silent mid-body (cut, logged 504), unreachable (503), reset mid-PUT
// (503 with a status, old version intact), one user's stalled downloads bounded to her slots
// while another user is served, uploads streamed as they arrive, idle uploads dropped (408).
// Each case prints its observed status and time.
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientGateway, type ClientGateway } from '../helpers/clients.js';
import { patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';

const TIMEOUTS = {
  backendConnectSeconds: 2, backendHeadersSeconds: 1, backendBodySeconds: 1, uploadIdleSeconds: 1, backendRequestsPerUser: 2,
};

describe('backend faults through a stalling proxy', () => {
  let store: TestGateway;
  let proxy: StallProxy;
  let front: ClientGateway;
  const agent = new Agent({ connections: 64, pipelining: 0 });
  const big = patternBytes(1024 * 1024, 3);

  const send = async (method: string, path: string, opts: { user?: string; body?: Buffer } = {}) => {
    const started = Date.now();
    const headers: Record<string, string> = { authorization: front.gw.authHeader(opts.user ?? 'alice') };
    if (opts.body) headers['content-length'] = String(opts.body.length);
    try {
      const res = await request(new URL(path, front.gw.url), { method: method as 'GET', headers, body: opts.body, dispatcher: agent });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, body, text: body.toString('utf8'), ms: Date.now() - started };
    } catch (err) {
      return { status: 0, body: Buffer.alloc(0), text: String((err as Error).message), ms: Date.now() - started, error: err as Error };
    }
  };
  const accessLines = (path: string) => front.logs.filter((l) => l.message === 'request' && l.path === path);

  beforeAll(async () => {
    store = await startTestGateway({ users: { store: 'store-pw' }, encrypt: false });
    proxy = await startStallProxy(store.port);
    front = await startClientGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      backend: { webdavUrl: `${proxy.url}`, username: 'store', password: 'store-pw', uploadViaTemp: false },
      // A davcrypt backend refuses `.davcrypt` paths: no backend keyring copy here.
      config: { timeouts: TIMEOUTS, keys: { backendKeyring: false } },
    });
    expect((await send('PUT', '/big.bin', { body: big })).status).toBe(201);
    expect((await send('PUT', '/small.txt', { user: 'bob', body: Buffer.from('bob was here') })).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await front?.close();
    await proxy?.close();
    await store?.close();
    await agent.close();
  });

  it('a backend silent before its headers: 504 after backendHeadersSeconds, backend named in the log only', async () => {
    proxy.mode = { kind: 'silent' };
    const r = await send('GET', '/big.bin');
    proxy.mode = { kind: 'pass' };
    console.log(`[faults] backend silent: status ${r.status} after ${r.ms} ms`);
    expect(r.status).toBe(504);
    expect(r.ms).toBeLessThan(4_000);
    expect(r.text).toMatch(/^DC_ERR_BACKEND_TIMEOUT: /);
    expect(r.text).not.toContain(String(proxy.port));
    const failure = front.logs.find((l) => l.message === 'request failed' && l.code === 'DC_ERR_BACKEND_TIMEOUT');
    expect(String(failure?.error)).toContain(`webdav:http://127.0.0.1:${proxy.port}/`);
  });

  it('a backend that stalls mid-body: the download is cut after backendBodySeconds and logged 504, never 120 s', async () => {
    proxy.mode = { kind: 'stallPath', path: '/alice/big.bin', afterBytes: 300_000 };
    const started = Date.now();
    const res = await request(new URL('/big.bin', front.gw.url), { headers: { authorization: front.gw.authHeader() }, dispatcher: agent });
    // Headers left once the first segment verified; then the body stalls.
    expect(res.statusCode).toBe(200);
    let got = 0;
    const outcome = await (async () => {
      try {
        for await (const c of res.body) got += (c as Buffer).length;
        return 'complete';
      } catch {
        return 'cut';
      }
    })();
    const ms = Date.now() - started;
    proxy.mode = { kind: 'pass' };
    console.log(`[faults] backend stalls mid-GET: headers 200, body ${outcome} after ${got} bytes, ${ms} ms`);
    expect(outcome).toBe('cut');
    expect(got).toBeLessThan(big.length);
    expect(ms).toBeLessThan(6_000);
    await sleep(200);
    // The 200 went out; the line says so, and that a backend timeout (504) cut it.
    expect(accessLines('/big.bin').at(-1)).toMatchObject({ status: 200, cut: true, cutStatus: 504 });
  });

  it("one user's stalled downloads hold at most her slots; another user is served at once", async () => {
    proxy.mode = { kind: 'stallPath', path: '/alice/big.bin' };
    const stalled = Array.from({ length: 6 }, () => send('GET', '/big.bin'));
    await sleep(300);
    const bob = await send('GET', '/small.txt', { user: 'bob' });
    const peak = proxy.stalledPeak();
    const alice = await Promise.all(stalled);
    proxy.mode = { kind: 'pass' };
    console.log(`[faults] 6 stalled GETs of alice: statuses ${alice.map((r) => r.status).join(',')} in ≤ ${Math.max(...alice.map((r) => r.ms))} ms; ` +
      `bob meanwhile ${bob.status} in ${bob.ms} ms; alice's requests held at the backend at once: ${peak}`);
    expect(bob.status).toBe(200);
    expect(bob.text).toBe('bob was here');
    expect(bob.ms).toBeLessThan(1_000);
    expect(peak).toBeLessThanOrEqual(TIMEOUTS.backendRequestsPerUser);
    for (const r of alice) expect([200, 503, 504]).toContain(r.status);
    expect(Math.max(...alice.map((r) => r.ms))).toBeLessThan(10_000);
  });

  it('an upload reaches the backend as it arrives, not a 64 KiB segment at a time', async () => {
    proxy.mode = { kind: 'pass' };
    const body = patternBytes(200_000, 9);
    const before = proxy.upstreamBytes();
    const socket = net.connect(front.gw.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`PUT /streamed.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${front.gw.authHeader()}\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 8_000));
    await sleep(600);
    const forwarded = proxy.upstreamBytes() - before;
    socket.write(body.subarray(8_000));
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => { text += c.toString('latin1'); if (text.includes('\r\n\r\n')) resolve(text); });
    });
    socket.destroy();
    console.log(`[faults] slow upload: ${forwarded} bytes at the backend after the client sent 8000 of ${body.length}; answer ${answer.split('\r\n')[0]}`);
    // The request line and headers of the backend PUT plus the header and the first 8000 ciphertext bytes.
    expect(forwarded).toBeGreaterThan(8_000);
    expect(answer).toMatch(/^HTTP\/1\.1 201/);
    const back = await send('GET', '/streamed.bin');
    expect(back.body.equals(body)).toBe(true);
  });

  it('an upload whose client goes silent is dropped with 408 after uploadIdleSeconds; old version intact, no temp left', async () => {
    const old = await send('GET', '/small.txt', { user: 'bob' });
    const socket = net.connect(front.gw.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const started = Date.now();
    socket.write(`PUT /small.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${front.gw.authHeader('bob')}\r\nContent-Length: 100000\r\n\r\n`);
    socket.write(Buffer.alloc(1000, 7));
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => { text += c.toString('latin1'); if (text.includes('\r\n\r\n')) resolve(text); });
      socket.on('close', () => resolve(text));
    });
    const ms = Date.now() - started;
    socket.destroy();
    console.log(`[faults] idle upload: ${answer.split('\r\n')[0]} after ${ms} ms`);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(4_000);
    await sleep(300);
    expect((await send('GET', '/small.txt', { user: 'bob' })).text).toBe(old.text);
    const leftovers = (await readdir(join(store.storageRoot, 'store', 'bob'))).filter((n) => n.startsWith('.davcrypt-tmp-'));
    expect(leftovers).toEqual([]);
  });

  it('an upload trickling 1 byte every 200 ms is dropped with 408 too (less than 1 KiB per uploadIdleSeconds)', async () => {
    const socket = net.connect(front.gw.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const started = Date.now();
    socket.write(`PUT /trickle.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${front.gw.authHeader('bob')}\r\nContent-Length: 100000\r\n\r\n`);
    const timer = setInterval(() => { if (!socket.destroyed) socket.write(Buffer.from([1])); }, 200);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => { text += c.toString('latin1'); if (text.includes('\r\n\r\n')) resolve(text); });
      socket.on('close', () => resolve(text));
    });
    clearInterval(timer);
    const ms = Date.now() - started;
    socket.destroy();
    console.log(`[faults] trickling upload: ${answer.split('\r\n')[0]} after ${ms} ms`);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(4_000);
    expect((await send('GET', '/trickle.bin', { user: 'bob' })).status).toBe(404);
  });

  it('a backend reset mid-PUT answers 503 with a status (no TCP reset), the old version stays', async () => {
    // Counted per connection: every connection is cut after 300 kB of request bytes.
    proxy.mode = { kind: 'cutAfter', requestBytes: 300_000 };
    const r = await send('PUT', '/big.bin', { body: patternBytes(big.length, 77) });
    proxy.mode = { kind: 'pass' };
    console.log(`[faults] backend reset mid-PUT: status ${r.status} after ${r.ms} ms (${r.text.trim()})`);
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^DC_ERR_BACKEND_UNAVAILABLE: /);
    expect(r.text).not.toContain(String(proxy.port));
    const back = await send('GET', '/big.bin');
    expect(back.status).toBe(200);
    expect(back.body.equals(big)).toBe(true);
  });

  it('a backend that cannot be reached: 503 at once, named in the log only', async () => {
    await proxy.refuse();
    const r = await send('GET', '/big.bin');
    console.log(`[faults] backend unreachable: status ${r.status} after ${r.ms} ms`);
    expect(r.status).toBe(503);
    expect(r.ms).toBeLessThan(3_000);
    expect(r.text).toMatch(/^DC_ERR_BACKEND_UNAVAILABLE: /);
    expect(r.text).not.toContain(String(proxy.port));
    const failure = front.logs.filter((l) => l.message === 'request failed' && l.code === 'DC_ERR_BACKEND_UNAVAILABLE').at(-1);
    expect(String(failure?.error)).toMatch(new RegExp(`webdav:http://127\\.0\\.0\\.1:${proxy.port}/.*ECONNREFUSED`));
    const health = await front.gw.gateway.health();
    expect(health.checks['backend /']?.ok).toBe(false);
  });
});
