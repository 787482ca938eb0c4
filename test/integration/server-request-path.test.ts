// The one request path (request-layer.ts): every method reaches our handlers with
// our own headers only (no Server, CORS or a foreign Allow), every 405 names exactly
// the methods we answer, a handler's bug becomes a 500 for that request alone, and a
// client that goes away mid-download is logged as a 499, not as an error. No
// process-wide exception handler exists: an uncaught error here would fail the run.
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import type { Backend } from '../../src/backends/types.js';
import { ALLOWED_METHODS } from '../../src/server/methods/common.js';
import { patternBytes } from '../helpers/gateway.js';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

interface LogLine { level: string; message: string; [k: string]: unknown }

const logs: LogLine[] = [];
const logger = winston.createLogger({
  level: 'debug',
  format: winston.format.json(),
  transports: [new winston.transports.Stream({
    stream: new Writable({ write(chunk, _enc, cb) { logs.push(JSON.parse(String(chunk)) as LogLine); cb(); } }),
  })],
});

/** A backend with two planted bugs: stat of /bug throws a TypeError, read of /breaks fails mid-body. */
function withBugs(inner: Backend): Backend {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'stat') {
        return (path: string, opts?: object) => {
          if (path === '/bug') throw new TypeError("Cannot read properties of undefined (reading 'size')");
          return target.stat(path, opts);
        };
      }
      if (prop === 'read') {
        return async (path: string, opts?: object) => {
          const result = await target.read(path, opts);
          if (path !== '/breaks') return result;
          result.body.destroy();
          const body = Readable.from((async function* () {
            yield Buffer.alloc(100_000, 1);
            throw new Error('storage went away mid-body');
          })());
          return { ...result, body };
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ encrypted: true, logger, wrapBackend: withBugs });
  expect((await dav(h, 'PUT', '/big.bin', { body: patternBytes(8 * 1024 * 1024) })).status).toBe(201);
  expect((await dav(h, 'PUT', '/breaks', { body: patternBytes(300_000) })).status).toBe(201);
});
afterAll(async () => { await h?.close(); });

const problems = () => logs.filter((l) => l.level === 'error' || /uncaught/i.test(l.message));

describe('one request path', () => {
  it('answers every method with our headers only: no Server, no CORS, no X-MSDAVEXT', async () => {
    const calls: Array<[string, string, Record<string, string>?, string?]> = [
      ['GET', '/big.bin', { range: 'bytes=0-9' }], ['HEAD', '/big.bin'], ['PUT', '/h.txt', {}, 'x'],
      ['PROPFIND', '/', { depth: '0' }], ['PROPPATCH', '/h.txt', {}, '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:t">1</x></D:prop></D:set></D:propertyupdate>'],
      ['MKCOL', '/d'], ['COPY', '/h.txt', { destination: '/h2.txt' }], ['MOVE', '/h2.txt', { destination: '/h3.txt' }],
      ['LOCK', '/h3.txt', { timeout: 'Second-60' }, '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'],
      ['DELETE', '/d'], ['OPTIONS', '/'],
    ];
    for (const [method, path, headers, body] of calls) {
      const r = await dav(h, method, path, { headers, body });
      expect(r.status, `${method} ${r.text}`).toBeLessThan(300);
      for (const name of Object.keys(r.headers)) expect(name.toLowerCase(), method).not.toMatch(/^(access-control-|server$|x-msdavext$)/);
      if (method !== 'OPTIONS') expect(r.headers.allow, method).toBeUndefined();
      if (method !== 'GET' && method !== 'HEAD') expect(r.headers.dav, method).toBe('1, 2');
    }
  });

  it('405 for unknown methods and for MKCOL on an existing path, each with our Allow (no POST)', async () => {
    for (const method of ['POST', 'PATCH', 'SEARCH', 'REPORT']) {
      const r = await dav(h, method, '/big.bin', { body: 'x' });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow, method).toBe(ALLOWED_METHODS);
      expect(r.text).toMatch(/^DC_ERR_METHOD_NOT_ALLOWED: /);
    }
    const mkcol = await dav(h, 'MKCOL', '/big.bin');
    expect(mkcol.status).toBe(405);
    expect(mkcol.headers.allow).toBe(ALLOWED_METHODS);
    expect(String(mkcol.headers.allow)).not.toMatch(/POST/);
    const missing = await dav(h, 'DELETE', '/no-such-file');
    expect(missing.status).toBe(404);
    expect(missing.headers.allow).toBeUndefined();
  });

  it("a handler's bug becomes a 500 for that request; the gateway keeps serving", async () => {
    const before = logs.length;
    const r = await dav(h, 'PROPFIND', '/bug', { headers: { depth: '0' } });
    expect(r.status).toBe(500);
    expect(r.text).toBe('DC_ERR_INTERNAL: internal error\n');
    const logged = logs.slice(before).find((l) => l.message === 'request failed');
    expect(logged?.level).toBe('error');
    expect(String(logged?.stack)).toMatch(/TypeError/);
    expect((await dav(h, 'GET', '/big.bin', { headers: { range: 'bytes=0-3' } })).status).toBe(206);
  });

  it('a storage failure after the headers went out cuts the response (never short bytes as complete)', async () => {
    const got = await new Promise<{ head: string; bytes: number; error: boolean }>((resolve) => {
      let data = Buffer.alloc(0);
      let error = false;
      const socket = net.connect(h.port, '127.0.0.1', () => socket.write(`GET /breaks HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\n\r\n`));
      socket.on('data', (c: Buffer) => { data = Buffer.concat([data, c]); });
      socket.on('error', () => { error = true; });
      socket.on('close', () => {
        const split = data.indexOf('\r\n\r\n');
        resolve({ head: data.subarray(0, split).toString('latin1'), bytes: data.length - split - 4, error });
      });
    });
    expect(got.head).toMatch(/^HTTP\/1\.1 200/);
    expect(got.head).toMatch(/content-length: 300000/i);
    expect(got.bytes).toBeLessThan(300_000);
    expect((await dav(h, 'HEAD', '/breaks')).status).toBe(200);
  });

  it('a client that disconnects mid-download is a 499 in the access log, not an error', async () => {
    const before = logs.length;
    await new Promise<void>((resolve) => {
      let received = 0;
      const socket = net.connect(h.port, '127.0.0.1', () => socket.write(`GET /big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\n\r\n`));
      socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received > 256 * 1024) socket.destroy();
      });
      socket.on('close', () => resolve());
    });
    const deadline = Date.now() + 5000;
    let line: LogLine | undefined;
    while (!line && Date.now() < deadline) {
      line = logs.slice(before).find((l) => l.message === 'request' && l.path === '/big.bin');
      if (!line) await new Promise((r) => setTimeout(r, 20));
    }
    expect(line?.status).toBe(499);
    expect(logs.slice(before).filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect((await dav(h, 'GET', '/big.bin', { headers: { range: 'bytes=0-3' } })).status).toBe(206);
  });

  it('logged nothing at error level except the two planted failures', () => {
    expect(problems().map((l) => l.path).sort()).toEqual(['/breaks', '/bug']);
  });
});
