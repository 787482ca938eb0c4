// GET/HEAD/PUT through the gateway with real clients: round trips at segment
// boundaries, byte ranges (206/416/multi-range), validators (304/412/If-Range),
// chunked and Finder-style uploads, aborted uploads, failing backend streams.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type WebDAVClient } from 'webdav';
import type { Backend, ReadOptions, ReadResult } from '../../src/backends/types.js';
import { davError } from '../../src/errors.js';
import { dav, rawHttp, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
let client: WebDAVClient;
let reads: Array<ReadOptions['range']> = [];

/** Counts read ranges and can make bodies fail before or after their first bytes. */
function instrument(b: Backend): Backend {
  return new Proxy(b, {
    get(target, prop, receiver) {
      if (prop === 'read') {
        return async (path: string, opts: ReadOptions = {}): Promise<ReadResult> => {
          reads.push(opts.range);
          if (path.endsWith('tamper-early.bin')) {
            const r = await target.read(path, opts);
            r.body.destroy();
            const body = new PassThrough();
            setImmediate(() => body.destroy(davError('DC_ERR_TAMPERED', 'segment 0 failed authentication')));
            return { ...r, body };
          }
          if (path.endsWith('tamper-late.bin')) {
            const r = await target.read(path, opts);
            r.body.destroy();
            const body = new PassThrough();
            body.write(Buffer.alloc(70000, 1));
            setTimeout(() => body.destroy(davError('DC_ERR_TAMPERED', 'segment 1 failed authentication')), 50);
            return { ...r, body };
          }
          return target.read(path, opts);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

beforeAll(async () => {
  h = await startHarness({ wrapBackend: instrument });
  client = createClient(h.url, { username: h.user, password: h.password });
});
afterAll(async () => { await h.close(); });

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('round trips', () => {
  for (const size of [0, 1, 65535, 65536, 65537, 5 * 1024 * 1024]) {
    it(`${size} bytes via the webdav client`, async () => {
      const data = randomBytes(size);
      await client.putFileContents(`/rt-${size}.bin`, data, { headers: { 'Content-Length': String(size) } });
      const back = (await client.getFileContents(`/rt-${size}.bin`)) as Buffer;
      expect(sha(Buffer.from(back))).toBe(sha(data));
      const stat = (await client.stat(`/rt-${size}.bin`)) as { size: number };
      expect(stat.size).toBe(size);
    });
  }

  it('streams a chunked upload (no Content-Length) and answers 201 then 204 with ETags', async () => {
    const data = randomBytes(200_000);
    const first = await dav(h, 'PUT', '/chunked.bin', { body: Readable.from([data.subarray(0, 1000), data.subarray(1000)]) });
    expect(first.status).toBe(201);
    expect(first.headers.etag).toMatch(/^"/);
    const second = await dav(h, 'PUT', '/chunked.bin', { body: data });
    expect(second.status).toBe(204);
    expect(second.headers.etag).not.toBe(first.headers.etag);
    expect(sha(await readFile(`${h.root}/chunked.bin`))).toBe(sha(data));
  });
});

describe('ranges', () => {
  const data = randomBytes(200_000);
  beforeAll(async () => { await writeFile(`${h.root}/range.bin`, data); });

  const cases: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0], ['bytes=0-65535', 0, 65535], ['bytes=65535-65536', 65535, 65536],
    ['bytes=199999-', 199999, 199999], ['bytes=-10', 199990, 199999], ['bytes=100-999999', 100, 199999],
    ['bytes=-999999', 0, 199999],
  ];
  for (const [range, a, b] of cases) {
    it(`${range} → 206 ${a}-${b}, only the range read`, async () => {
      reads = [];
      const r = await dav(h, 'GET', '/range.bin', { headers: { range } });
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes ${a}-${b}/200000`);
      expect(Number(r.headers['content-length'])).toBe(b - a + 1);
      expect(r.body.equals(data.subarray(a, b + 1))).toBe(true);
      // One backend read starting at a; `bytes=a-b` goes straight to the backend, which clamps b to the size.
      expect(reads).toHaveLength(1);
      expect(reads[0]!.start).toBe(a);
      expect(reads[0]!.end ?? Infinity).toBeGreaterThanOrEqual(b);
    });
  }

  it('416 with bytes */total for unsatisfiable ranges', async () => {
    for (const range of ['bytes=200000-', 'bytes=300000-300010', 'bytes=-0']) {
      const r = await dav(h, 'GET', '/range.bin', { headers: { range } });
      expect(r.status, range).toBe(416);
      expect(r.headers['content-range']).toBe('bytes */200000');
    }
  });

  it('serves the whole file for multi-range and invalid Range headers', async () => {
    for (const range of ['bytes=0-1,5-6', 'bytes=5-1', 'items=0-1']) {
      const r = await dav(h, 'GET', '/range.bin', { headers: { range } });
      expect(r.status, range).toBe(200);
      expect(r.body.length).toBe(200000);
    }
  });

  it('honours If-Range (etag match → 206, mismatch → 200)', async () => {
    const head = await dav(h, 'HEAD', '/range.bin');
    const etag = String(head.headers.etag);
    expect((await dav(h, 'GET', '/range.bin', { headers: { range: 'bytes=10-19', 'if-range': etag } })).status).toBe(206);
    const stale = await dav(h, 'GET', '/range.bin', { headers: { range: 'bytes=10-19', 'if-range': '"stale"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(200000);
  });
});

describe('validators and HEAD', () => {
  it('HEAD gives the headers without reading the body', async () => {
    await writeFile(`${h.root}/head.txt`, 'hello head');
    reads = [];
    const r = await dav(h, 'HEAD', '/head.txt');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('10');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers.etag).toMatch(/^"/);
    expect(new Date(String(r.headers['last-modified'])).getTime()).toBeGreaterThan(0);
    expect(reads).toEqual([]);
  });

  it('304 for If-None-Match / If-Modified-Since, 412 for If-Match mismatch', async () => {
    const head = await dav(h, 'HEAD', '/head.txt');
    const etag = String(head.headers.etag);
    expect((await dav(h, 'GET', '/head.txt', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await dav(h, 'GET', '/head.txt', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    expect((await dav(h, 'GET', '/head.txt', { headers: { 'if-modified-since': String(head.headers['last-modified']) } })).status).toBe(304);
    expect((await dav(h, 'GET', '/head.txt', { headers: { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' } })).status).toBe(200);
    expect((await dav(h, 'PUT', '/head.txt', { headers: { 'if-match': '"other"' }, body: 'x' })).status).toBe(412);
    expect((await dav(h, 'PUT', '/head.txt', { headers: { 'if-none-match': '*' }, body: 'x' })).status).toBe(412);
    expect((await dav(h, 'PUT', '/head.txt', { headers: { 'if-match': etag }, body: 'new' })).status).toBe(204);
    expect((await dav(h, 'PUT', '/fresh.txt', { headers: { 'if-none-match': '*' }, body: 'x' })).status).toBe(201);
  });
});

describe('uploads that must not replace the file', () => {
  it('Finder chunked PUT with X-Expected-Entity-Length: exact → stored, short/long → refused', async () => {
    const finderPut = (chunks: string[]) => rawHttp(h,
      `PUT /finder.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nTransfer-Encoding: Chunked\r\n` +
      `X-Expected-Entity-Length: 21\r\nConnection: close\r\n\r\n` +
      chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('') + '0\r\n\r\n', 2000);
    const ok = await finderPut(['0123456789', 'abcdefghijk']);
    expect(ok.split('\r\n')[0]).toBe('HTTP/1.1 201 Created');
    expect(await readFile(`${h.root}/finder.txt`, 'utf8')).toBe('0123456789abcdefghijk');
    for (const chunks of [[], ['short'], ['A'.repeat(40)]]) {
      const bad = await finderPut(chunks);
      expect(bad.split('\r\n')[0], JSON.stringify(chunks)).toMatch(/^HTTP\/1.1 4\d\d /);
      expect(await readFile(`${h.root}/finder.txt`, 'utf8')).toBe('0123456789abcdefghijk');
    }
  });

  it('an aborted PUT keeps the previous version', async () => {
    await writeFile(`${h.root}/keep.bin`, 'old contents');
    const out = await rawHttp(h, `PUT /keep.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nContent-Length: 100000\r\n\r\n` + 'x'.repeat(5000), 300);
    expect(out).toBe('');
    await new Promise((r) => setTimeout(r, 200));
    expect(await readFile(`${h.root}/keep.bin`, 'utf8')).toBe('old contents');
    const chunked = await rawHttp(h, `PUT /keep.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n${'y'.repeat(4096)}\r\n`, 300);
    expect(chunked).toBe('');
    await new Promise((r) => setTimeout(r, 200));
    expect(await readFile(`${h.root}/keep.bin`, 'utf8')).toBe('old contents');
  });

  it('answers Expect: 100-continue', async () => {
    const out = await rawHttp(h, `PUT /cont.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi`, 1000);
    expect(out).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 201 Created/);
  });

  it('PUT into a missing folder → 409, onto a collection → 405', async () => {
    expect((await dav(h, 'PUT', '/nope/x.txt', { body: 'x' })).status).toBe(409);
    await dav(h, 'MKCOL', '/coll');
    expect((await dav(h, 'PUT', '/coll', { body: 'x' })).status).toBe(405);
  });
});

describe('failing backend streams', () => {
  it('a tampered first segment → 502 with the code, before any header', async () => {
    await writeFile(`${h.root}/tamper-early.bin`, randomBytes(1000));
    const r = await dav(h, 'GET', '/tamper-early.bin');
    expect(r.status).toBe(502);
    expect(r.text).toContain('DC_ERR_TAMPERED');
  });

  it('a failure after headers destroys the response (never a clean short body)', async () => {
    await writeFile(`${h.root}/tamper-late.bin`, randomBytes(200_000));
    await expect(dav(h, 'GET', '/tamper-late.bin')).rejects.toThrow();
    expect((await dav(h, 'OPTIONS', '/', { auth: null })).status).toBe(200);
  });
});
