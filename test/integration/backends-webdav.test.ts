// The WebDAV backend against a scripted HTTP server on 127.0.0.1: what goes on the
// wire (Content-Length vs chunked, conditional headers, auth, PROPFIND body) and how
// statuses, timeouts, refused connections, TLS and aborts map to davcrypt error codes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebdavBackend } from '../../src/backends/webdav.js';
import { bodyOf, expectCode, readAll, slowBody } from '../conformance/helpers.js';
import { freePort } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer; aborted: boolean }
type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const PASSWORD = 'pässwörd:+/';
let server: Server;
let base: string;
let handler: Handler;
/** Answers as soon as the headers arrive, before the body (a server refusing an upload early). */
let earlyHandler: Handler | undefined;
let seen: Seen[] = [];

function multistatus(entries: Array<{ href: string; dir?: boolean; size?: number; etag?: string }>): string {
  return '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">' + entries.map((e) =>
    `<d:response><d:href>${e.href}</d:href><d:propstat><d:prop>` +
    `<d:resourcetype>${e.dir ? '<d:collection/>' : ''}</d:resourcetype>` +
    (e.size !== undefined ? `<d:getcontentlength>${e.size}</d:getcontentlength>` : '') +
    (e.etag ? `<d:getetag>${e.etag.replace(/"/g, '&quot;')}</d:getetag>` : '') +
    '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>').join('') + '</d:multistatus>';
}

function reply(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    const record: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), aborted: false };
    seen.push(record);
    req.on('aborted', () => { record.aborted = true; });
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => { record.body = Buffer.concat(parts); handler(req, res, record.body); });
    if (earlyHandler) earlyHandler(req, res, Buffer.alloc(0));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dav/`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
afterEach(() => { seen = []; earlyHandler = undefined; });

// uploadViaTemp false: these scripted answers test the direct PUT path (the 'auto' probe has its own interop test).
const backend = (extra: Partial<ConstructorParameters<typeof WebdavBackend>[0]> = {}) =>
  new WebdavBackend({ url: base, username: 'alice', password: PASSWORD, uploadViaTemp: false, ...extra });

describe('webdav backend on the wire', () => {
  it('sends UTF-8 Basic auth, an explicit PROPFIND property list and Depth', async () => {
    handler = (_req, res) => reply(res, 207, multistatus([{ href: '/dav/', dir: true }]));
    const b = backend();
    expect((await b.stat('/')).type).toBe('directory');
    await b.close();
    const [propfind] = seen;
    expect(propfind!.method).toBe('PROPFIND');
    expect(propfind!.headers.depth).toBe('0');
    expect(propfind!.headers.authorization).toBe('Basic ' + Buffer.from(`alice:${PASSWORD}`, 'utf8').toString('base64'));
    for (const prop of ['resourcetype', 'getcontentlength', 'getetag', 'getlastmodified', 'creationdate', 'getcontenttype']) {
      expect(propfind!.body.toString()).toContain(`<D:${prop}/>`);
    }
  });

  it('PUT sends Content-Length when the size is known, chunked otherwise, and uses the PUT ETag', async () => {
    handler = (req, res) => req.method === 'PUT'
      ? reply(res, 201, '', { etag: '"new-etag"' })
      : reply(res, 207, multistatus([{ href: '/dav/f%20x', size: 5, etag: '"propfind-etag"' }]));
    const b = backend();
    const known = await b.write('/f x', bodyOf('hello'), { size: 5 });
    expect(known.etag).toBe('"new-etag"');
    expect(seen.map((s) => s.method)).toEqual(['PUT']);
    expect(seen[0]!.url).toBe('/dav/f%20x');
    expect(seen[0]!.headers['content-length']).toBe('5');
    expect(seen[0]!.headers['transfer-encoding']).toBeUndefined();
    seen = [];
    const unknown = await b.write('/f x', bodyOf('hello'));
    expect(seen[0]!.headers['transfer-encoding']).toBe('chunked');
    expect(seen[0]!.headers['content-length']).toBeUndefined();
    expect(seen[0]!.body.toString()).toBe('hello');
    expect(unknown.size).toBe(5);
    await b.close();
  });

  it('falls back to a Depth-0 PROPFIND for the etag when PUT gives none', async () => {
    handler = (req, res) => req.method === 'PUT'
      ? reply(res, 204)
      : reply(res, 207, multistatus([{ href: 'http://elsewhere.example/dav/f', size: 5, etag: 'W/"from-propfind"' }]));
    const b = backend();
    const info = await b.write('/f', bodyOf('hello'), { size: 5 });
    expect(info.etag).toBe('W/"from-propfind"');
    expect(seen.map((s) => `${s.method} ${s.headers.depth ?? ''}`)).toEqual(['PUT ', 'PROPFIND 0']);
    await b.close();
  });

  it('sends If-Match (strong tags only) and If-None-Match after a matching pre-check', async () => {
    handler = (req, res) => req.method === 'PUT'
      ? reply(res, 201, '', { etag: '"2"' })
      : reply(res, 207, multistatus([{ href: '/dav/f', size: 1, etag: '"1"' }]));
    const b = backend();
    await b.write('/f', bodyOf('x'), { size: 1, ifMatch: '"1"' });
    expect(seen.find((s) => s.method === 'PUT')!.headers['if-match']).toBe('"1"');
    seen = [];
    await b.write('/f', bodyOf('x'), { size: 1, ifMatch: 'W/"1"' });
    expect(seen.find((s) => s.method === 'PUT')!.headers['if-match']).toBeUndefined();
    handler = (req, res) => req.method === 'PUT' ? reply(res, 201, '', { etag: '"2"' }) : reply(res, 404);
    seen = [];
    await b.write('/g', bodyOf('x'), { size: 1, ifNoneMatch: '*' });
    expect(seen.find((s) => s.method === 'PUT')!.headers['if-none-match']).toBe('*');
    await b.close();
  });

  it('sends MOVE/COPY with an absolute encoded Destination and Overwrite', async () => {
    handler = (_req, res) => reply(res, 201);
    const b = backend();
    await b.move('/a b', '/c#d', { overwrite: true });
    await b.copy('/a b', '/e?f');
    expect(seen[0]).toMatchObject({ method: 'MOVE', url: '/dav/a%20b' });
    expect(seen[0]!.headers.destination).toBe(`${base}c%23d`);
    expect(seen[0]!.headers.overwrite).toBe('T');
    expect(seen[1]!.headers.destination).toBe(`${base}e%3Ff`);
    expect(seen[1]!.headers.overwrite).toBe('F');
    expect(seen[1]!.headers.depth).toBe('infinity');
    await b.close();
  });

  it('asks for a Range and slices the body itself when the server ignores it', async () => {
    handler = (req, res) => {
      expect(req.headers.range).toBe('bytes=2-4');
      reply(res, 200, '0123456789', { etag: '"e"' });
    };
    const b = backend();
    const r = await b.read('/f', { range: { start: 2, end: 4 } });
    expect((await readAll(r.body)).toString()).toBe('234');
    expect(r.range).toEqual({ start: 2, end: 4 });
    expect(r.info).toMatchObject({ size: 10, etag: '"e"' });
    await b.close();
  });

  it('lists children from relative and absolute-URL hrefs, skipping the folder itself', async () => {
    handler = (_req, res) => reply(res, 207, multistatus([
      { href: `${base}d/`, dir: true },
      { href: 'd/a%23b', size: 3 },
      { href: '/dav/d/sub/', dir: true },
      { href: '/dav/d/.davcrypt-tmp-1234', size: 9 },
      { href: '/other/outside', size: 1 },
    ]));
    const b = backend();
    const entries = await b.list('/d');
    expect(entries.map((e) => [e.path, e.type, e.size])).toEqual([['/d/a#b', 'file', 3], ['/d/sub', 'directory', 0]]);
    await b.close();
  });

  it('reads a listing that starts with a byte order mark and splits UTF-8 characters across chunks', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(multistatus([{ href: '/dav/d/', dir: true }, { href: '/dav/d/%C3%A9t%C3%A9', size: 3, etag: '"é€𝄞"' }]))]);
    handler = (_req, res) => {
      res.writeHead(207, { 'content-length': String(body.length) });
      // One byte at a time (BOM included): every multi-byte character arrives split.
      let at = 0;
      const next = () => { if (at < body.length) res.write(body.subarray(at, ++at), next); else res.end(); };
      next();
    };
    const b = backend();
    const entries = await b.list('/d');
    expect(entries.map((e) => [e.path, e.size, e.etag])).toEqual([['/d/été', 3, '"é€𝄞"']]);
    await b.close();
  });

  it('listEach hands the folder over once wherever the server puts it, children once each', async () => {
    handler = (_req, res) => reply(res, 207, multistatus([
      { href: '/dav/d/a', size: 3 },
      { href: '/dav/d/a', size: 3 },
      { href: '/dav/d/', dir: true },
      { href: '/dav/d/b', size: 4 },
      { href: '/dav/d/', dir: true },
    ]));
    const b = backend();
    const got: Array<[string, boolean]> = [];
    await b.listEach('/d', (e, self) => got.push([e.path, self]));
    expect(got).toEqual([['/d/a', false], ['/d', true], ['/d/b', false]]);
    const both = await b.listWithSelf('/d');
    expect(both.self).toMatchObject({ path: '/d', type: 'directory' });
    expect(both.children.map((e) => e.path)).toEqual(['/d/a', '/d/b']);
    // A server that names the folder by an href we cannot map: its first answer stands for the folder.
    handler = (_req, res) => reply(res, 207, multistatus([{ href: '/elsewhere/', dir: true }, { href: '/dav/d/c', size: 1 }]));
    const odd = await b.listWithSelf('/d');
    expect(odd.self).toMatchObject({ path: '/d', type: 'directory' });
    expect(odd.children.map((e) => e.path)).toEqual(['/d/c']);
    await b.close();
  });
});

describe('webdav backend error mapping', () => {
  const cases: Array<[number, string]> = [
    [401, 'DC_ERR_BACKEND_UNAUTHORIZED'], [403, 'DC_ERR_FORBIDDEN'], [412, 'DC_ERR_PRECONDITION_FAILED'],
    [507, 'DC_ERR_INSUFFICIENT_STORAGE'], [500, 'DC_ERR_BACKEND'], [503, 'DC_ERR_BACKEND_UNAVAILABLE'], [418, 'DC_ERR_BACKEND'],
  ];
  for (const [status, code] of cases) {
    it(`PUT ${status} is ${code}, naming backend and operation but no credentials`, async () => {
      handler = (req, res) => req.method === 'PUT' ? reply(res, status) : reply(res, 207, multistatus([{ href: '/dav/', dir: true }]));
      const b = backend();
      let caught: Error | undefined;
      try { await b.write('/f', bodyOf('x'), { size: 1 }); } catch (err) { caught = err as Error; }
      await expectCode(Promise.reject(caught), code as never);
      expect(caught!.message).toContain(`webdav:${base} write /f`);
      expect(caught!.message).not.toContain(PASSWORD);
      expect(JSON.stringify((caught as { details?: unknown }).details)).not.toContain(PASSWORD);
      await b.close();
    });
  }

  it('a 507 answered before the body is sent is DC_ERR_INSUFFICIENT_STORAGE, not a socket error', async () => {
    handler = () => undefined;
    earlyHandler = (req, res) => { if (req.method === 'PUT') reply(res, 507, 'full', { connection: 'close' }); };
    const b = backend();
    await expectCode(b.write('/big', slowBody(200, 64 * 1024), { size: 200 * 64 * 1024 }), 'DC_ERR_INSUFFICIENT_STORAGE');
    await b.close();
  });

  it('a refused connection is DC_ERR_BACKEND_UNAVAILABLE', async () => {
    const port = await freePort();
    const b = new WebdavBackend({ url: `http://alice:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/` });
    let caught: Error | undefined;
    try { await b.stat('/'); } catch (err) { caught = err as Error; }
    await expectCode(Promise.reject(caught), 'DC_ERR_BACKEND_UNAVAILABLE');
    expect(caught!.message).not.toContain('alice:');
    expect(b.name).toBe(`webdav:http://127.0.0.1:${port}/`);
    await b.close();
  });

  it('a server that never answers hits the headers timeout: DC_ERR_BACKEND_TIMEOUT (504)', async () => {
    handler = () => undefined;
    const b = backend({ timeouts: { headersMs: 300 } });
    const started = Date.now();
    await expectCode(b.stat('/'), 'DC_ERR_BACKEND_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
    await b.close();
  });

  it('an AbortSignal aborts the upload on the wire', async () => {
    handler = (_req, res) => reply(res, 201);
    const b = backend();
    const ac = new AbortController();
    const body = slowBody(1000, 64 * 1024, (i) => { if (i === 10) ac.abort(); });
    await expectCode(b.write('/big', body, { size: 1000 * 64 * 1024, signal: ac.signal }), 'DC_ERR_ABORTED');
    await new Promise((r) => setTimeout(r, 200));
    const put = seen.find((s) => s.method === 'PUT')!;
    expect(put.aborted).toBe(true);
    await b.close();
  });

  it('an AbortSignal aborts a download mid-body', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': String(100 * 1024 * 1024), etag: '"e"' });
      res.write(Buffer.alloc(256 * 1024));
    };
    const b = backend();
    const ac = new AbortController();
    const r = await b.read('/huge', { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expectCode(readAll(r.body), 'DC_ERR_ABORTED');
    await b.close();
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
describe.skipIf(!hasOpenssl)('webdav backend over https with a private CA', () => {
  it('refuses an unknown certificate and accepts it with opts.ca', async () => {
    const tmp = await makeTempDir('tls');
    const key = join(tmp.path, 'key.pem');
    const cert = join(tmp.path, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    expect(r.status).toBe(0);
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) =>
      reply(res, 207, multistatus([{ href: '/', dir: true }])));
    await new Promise<void>((res) => tls.listen(0, '127.0.0.1', res));
    const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/`;
    try {
      const untrusted = new WebdavBackend({ url });
      await expectCode(untrusted.stat('/'), 'DC_ERR_BACKEND_UNAVAILABLE');
      // The message says what to change: the mount's ca:, or NODE_EXTRA_CA_CERTS for the offline tools.
      expect(String((await untrusted.stat('/').catch((e: Error) => e) as Error).message)).toMatch(/backend ca: FILE .*NODE_EXTRA_CA_CERTS=FILE/);
      await untrusted.close();
      // http:// to this HTTPS port, and https:// to a plain-HTTP port: each hint names the other scheme.
      const plainToTls = new WebdavBackend({ url: url.replace('https:', 'http:') });
      expect(String((await plainToTls.stat('/').catch((e: Error) => e) as Error).message)).toMatch(/write the URL with https:\/\//);
      await plainToTls.close();
      const plain = createServer((_req, res) => reply(res, 207, multistatus([{ href: '/', dir: true }])));
      await new Promise<void>((res) => plain.listen(0, '127.0.0.1', res));
      const tlsToPlain = new WebdavBackend({ url: `https://127.0.0.1:${(plain.address() as AddressInfo).port}/` });
      expect(String((await tlsToPlain.stat('/').catch((e: Error) => e) as Error).message)).toMatch(/does not speak TLS on this port: .* http:\/\//);
      await tlsToPlain.close();
      plain.closeAllConnections();
      await new Promise((res) => plain.close(res));
      const trusted = new WebdavBackend({ url, ca: readFileSync(cert) });
      expect((await trusted.stat('/')).type).toBe('directory');
      await trusted.close();
    } finally {
      tls.closeAllConnections();
      await new Promise((res) => tls.close(res));
      await tmp.cleanup();
    }
  });
});
