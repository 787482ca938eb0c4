// The request-saving paths of issue 6 against a scripted WebDAV server on 127.0.0.1:
// one Depth-1 PROPFIND for a folder and its entry (listWithSelf), read with If-Match,
// write outcome (201/204) and etagOptional (no PROPFIND after PUT), the EncryptingBackend's
// one-request range read on a remembered ETag (and its fall-back when the file changed),
// and the streaming multistatus parser fed in arbitrary pieces.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EncryptingBackend } from '../../src/backends/encrypting.js';
import type { WriteOutcome } from '../../src/backends/types.js';
import { WebdavBackend } from '../../src/backends/webdav.js';
import { createMultistatusParser, parseMultistatus } from '../../src/backends/webdav-xml.js';
import { FileKeyCache, deriveFileKeys, encodeHeader, newMountKey, parseHeader } from '../../src/crypto/index.js';
import { createMountKeySet } from '../../src/keys/keyset.js';
import { bodyOf, expectCode, readAll } from '../conformance/helpers.js';
import { dav, startHarness } from '../helpers/server-harness.js';

interface Seen { method: string; url: string; headers: IncomingMessage['headers'] }
let server: Server;
let base: string;
let seen: Seen[] = [];
/** The stored files of the scripted server: path below /dav → body and etag. */
const files = new Map<string, { body: Buffer; etag: string }>();
let etagCounter = 0;

function entryXml(href: string, dir: boolean, size?: number, etag?: string): string {
  return `<d:response><d:href>${href}</d:href><d:propstat><d:prop><d:resourcetype>${dir ? '<d:collection/>' : ''}</d:resourcetype>` +
    (size !== undefined ? `<d:getcontentlength>${size}</d:getcontentlength>` : '') +
    (etag ? `<d:getetag>${etag.replace(/"/g, '&quot;')}</d:getetag>` : '') +
    '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>';
}

/** A tiny WebDAV server: GET (single ranges, If-Match), PUT (201/204, no ETag), PROPFIND Depth 0/1 on / and files. */
function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const path = decodeURIComponent(req.url!.replace(/^\/dav/, '')) || '/';
  const file = files.get(path);
  if (req.method === 'PUT') {
    files.set(path, { body, etag: `"e${++etagCounter}"` });
    res.writeHead(file ? 204 : 201, { 'content-length': '0' });
    res.end();
    return;
  }
  if (req.method === 'PROPFIND') {
    let xml = '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">';
    if (path === '/') {
      xml += entryXml('/dav/', true);
      if (req.headers.depth === '1') for (const [p, f] of files) xml += entryXml('/dav' + p, false, f.body.length, f.etag);
    } else if (file) {
      xml += entryXml('/dav' + path, false, file.body.length, file.etag);
    } else {
      res.writeHead(404, { 'content-length': '0' });
      res.end();
      return;
    }
    xml += '</d:multistatus>';
    res.writeHead(207, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)) });
    res.end(xml);
    return;
  }
  if (req.method === 'GET') {
    if (!file) {
      res.writeHead(404, { 'content-length': '0' });
      res.end();
      return;
    }
    if (req.headers['if-match'] !== undefined && req.headers['if-match'] !== file.etag) {
      res.writeHead(412, { 'content-length': '0' });
      res.end();
      return;
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(m[2] === '' ? file.body.length - 1 : Number(m[2]), file.body.length - 1);
      res.writeHead(206, { etag: file.etag, 'content-range': `bytes ${start}-${end}/${file.body.length}`, 'content-length': String(end - start + 1) });
      res.end(file.body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { etag: file.etag, 'content-length': String(file.body.length) });
    res.end(file.body);
    return;
  }
  res.writeHead(405, { 'content-length': '0' });
  res.end();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(parts)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dav/`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
afterEach(() => { seen = []; files.clear(); });

// Every backend here pins uploadViaTemp: false: the request counts are those of direct PUTs (no 'auto' probe).
const methods = () => seen.map((s) => `${s.method}${s.headers.depth !== undefined ? ' ' + s.headers.depth : ''}`);

describe('WebDAV backend fast paths', () => {
  it('listWithSelf: one Depth-1 PROPFIND gives the folder and its children; a file gives itself and no children', async () => {
    files.set('/a.txt', { body: Buffer.from('aaa'), etag: '"1"' });
    files.set('/b.txt', { body: Buffer.from('bb'), etag: '"2"' });
    const b = new WebdavBackend({ url: base, uploadViaTemp: false });
    const { self, children } = await b.listWithSelf('/');
    expect(self.type).toBe('directory');
    expect(children.map((c) => `${c.name}:${c.size}`).sort()).toEqual(['a.txt:3', 'b.txt:2']);
    expect(methods()).toEqual(['PROPFIND 1']);
    const file = await b.listWithSelf('/a.txt');
    expect(file.self).toMatchObject({ type: 'file', size: 3, etag: '"1"' });
    expect(file.children).toEqual([]);
    await expectCode(b.listWithSelf('/missing'), 'DC_ERR_NOT_FOUND');
    await expectCode(b.list('/a.txt'), 'DC_ERR_NOT_A_COLLECTION');
    await b.close();
  });

  it('read sends If-Match (strong tags only) and maps 412 to DC_ERR_PRECONDITION_FAILED', async () => {
    files.set('/f', { body: Buffer.from('0123456789'), etag: '"7"' });
    const b = new WebdavBackend({ url: base, uploadViaTemp: false });
    const r = await b.read('/f', { range: { start: 2, end: 4 }, ifMatch: '"7"' });
    expect((await readAll(r.body)).toString()).toBe('234');
    expect(r.info).toMatchObject({ size: 10, etag: '"7"' });
    expect(seen[0]!.headers['if-match']).toBe('"7"');
    await expectCode(b.read('/f', { range: { start: 0, end: 1 }, ifMatch: '"other"' }), 'DC_ERR_PRECONDITION_FAILED');
    seen = [];
    await readAll((await b.read('/f', { ifMatch: 'W/"7"' })).body);
    expect(seen[0]!.headers['if-match']).toBeUndefined();
    await b.close();
  });

  it('write reports created/replaced from 201/204 and, with etagOptional, sends no PROPFIND after the PUT', async () => {
    const b = new WebdavBackend({ url: base, uploadViaTemp: false });
    const first: WriteOutcome = {};
    const info = await b.write('/n.bin', bodyOf('hello'), { size: 5, etagOptional: true, outcome: first });
    expect(first.created).toBe(true);
    expect(info).toMatchObject({ path: '/n.bin', size: 5 });
    expect(info.etag).toBeUndefined();
    expect(methods()).toEqual(['PUT']);
    const second: WriteOutcome = {};
    await b.write('/n.bin', bodyOf('hello'), { size: 5, etagOptional: true, outcome: second });
    expect(second.created).toBe(false);
    seen = [];
    // Without etagOptional the ETag is still fetched, as before.
    const withTag = await b.write('/n.bin', bodyOf('hi'), { size: 2 });
    expect(withTag.etag).toBe(files.get('/n.bin')!.etag);
    expect(methods()).toEqual(['PUT', 'PROPFIND 0']);
    expect(b.capabilities.writeReportsCreated).toBe(true);
    await b.close();
  });
});

describe('EncryptingBackend over WebDAV: one request per range read', () => {
  const key = newMountKey();
  const S = 65536;
  const data = Buffer.alloc(3 * S + 500);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 9)) & 0xff;

  it('reads a range with one ranged GET once the ETag is known, and falls back to stat when the file changed', async () => {
    const enc = new EncryptingBackend(new WebdavBackend({ url: base, uploadViaTemp: false }), createMountKeySet([key], key));
    await enc.write('/big.bin', bodyOf(data), { size: data.length, etagOptional: true });
    // The write answer had no ETag: the backend learns it in the background; stat makes it certain here.
    await enc.stat('/big.bin');
    seen = [];
    const r = await enc.read('/big.bin', { range: { start: S + 10, end: S + 4105 } });
    expect((await readAll(r.body)).equals(data.subarray(S + 10, S + 4106))).toBe(true);
    expect(r.info.size).toBe(data.length);
    expect(r.range).toEqual({ start: S + 10, end: S + 4105 });
    expect(methods()).toEqual(['GET']);
    expect(seen[0]!.headers['if-match']).toBe(files.get('/big.bin')!.etag);

    // Someone replaces the file behind our back: the If-Match GET fails, the long way is taken.
    const other = Buffer.alloc(2 * S, 7);
    await enc.write('/big.bin', bodyOf(other), { size: other.length });
    const before = etagCounter;
    files.set('/big.bin', { ...files.get('/big.bin')!, etag: `"e${before}-changed"` });
    seen = [];
    const again = await enc.read('/big.bin', { range: { start: 5, end: 9 } });
    expect((await readAll(again.body)).equals(other.subarray(5, 10))).toBe(true);
    expect(methods()[0]).toBe('GET');
    expect(methods()).toContain('PROPFIND 0');
    await enc.close();
  });

  it('an unsatisfiable range still reports the plaintext size', async () => {
    const enc = new EncryptingBackend(new WebdavBackend({ url: base, uploadViaTemp: false }), createMountKeySet([key], key));
    await enc.write('/s.bin', bodyOf(Buffer.from('small')), { size: 5 });
    await expectCode(enc.read('/s.bin', { range: { start: 5 } }), 'DC_ERR_RANGE_NOT_SATISFIABLE');
    await enc.close();
  });
});

describe('the whole gateway over WebDAV: backend requests per client request', () => {
  it('a range GET and a small GET cost one backend GET each, a PUT one PUT (and one background header read)', async () => {
    const S = 65536;
    const data = Buffer.alloc(2 * S + 100, 3);
    const key = newMountKey();
    const h = await startHarness({
      wrapBackend: () => new EncryptingBackend(new WebdavBackend({ url: base, uploadViaTemp: false }), createMountKeySet([key], key)),
    });
    try {
      await dav(h, 'PROPFIND', '/', { headers: { depth: '1' } }); // the mount's first look, not counted
      seen = [];
      expect((await dav(h, 'PUT', '/f.bin', { body: data })).status).toBe(201);
      // The PUT answer carries no ETag: the header is read back once, in the background.
      for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(methods()).toEqual(['PUT', 'GET']);
      await dav(h, 'GET', '/f.bin', { headers: { range: 'bytes=0-0' } }); // learns the path's ETag (hint)
      for (const [start, end] of [[S + 5, S + 4100], [10, 20], [2 * S + 1, 2 * S + 99]] as const) {
        seen = [];
        const r = await dav(h, 'GET', '/f.bin', { headers: { range: `bytes=${start}-${end}` } });
        expect(r.status).toBe(206);
        expect(r.body.equals(data.subarray(start, end + 1))).toBe(true);
        expect(methods()).toEqual(['GET']);
      }
      seen = [];
      const whole = await dav(h, 'GET', '/f.bin');
      expect(whole.body.equals(data)).toBe(true);
      expect(methods()).toEqual(['GET']);
    } finally {
      await h.close();
    }
  });
});

describe('streaming multistatus parser and key cache', () => {
  it('gives the same answer whatever the chunking (split inside tags, entities and multi-byte characters)', () => {
    const xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">' +
      Array.from({ length: 30 }, (_, i) => `<D:response xmlns:lp1="DAV:"><D:href>/dav/f%C3%A9${i}</D:href><D:propstat><D:prop>` +
        `<lp1:resourcetype/><lp1:getcontentlength>${i * 100}</lp1:getcontentlength><lp1:getetag>"é&amp;${i}"</lp1:getetag>` +
        `</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`).join('\n') + '</D:multistatus>';
    const whole = parseMultistatus(xml);
    expect(whole).toHaveLength(30);
    expect(whole[3]).toMatchObject({ href: '/dav/f%C3%A93', contentLength: 300, etag: '"é&3"', collection: false });
    const bytes = Buffer.from(xml, 'utf8');
    for (const step of [1, 7, 64, 1000]) {
      const p = createMultistatusParser();
      const decoder = new TextDecoder('utf-8');
      for (let i = 0; i < bytes.length; i += step) p.write(decoder.decode(bytes.subarray(i, i + step), { stream: true }));
      p.write(decoder.decode());
      expect(p.end(), `step ${step}`).toEqual(whole);
    }
  });

  it('FileKeyCache returns the keys deriveFileKeys derives, once per header', () => {
    const key = newMountKey();
    const cache = new FileKeyCache(2);
    const header = (salt: number) => parseHeader(encodeHeader({ segmentExponent: 16, keyId: key.id, salt: Buffer.alloc(32, salt), noncePrefix: Buffer.alloc(7, 1) }));
    const h1 = header(1);
    const k1 = cache.get(key.key, h1);
    expect(k1.aesKey.equals(deriveFileKeys(key.key, h1).aesKey)).toBe(true);
    expect(k1.macKey.equals(deriveFileKeys(key.key, h1).macKey)).toBe(true);
    expect(cache.get(key.key, header(1))).toBe(k1);
    const k2 = cache.get(key.key, header(2));
    expect(k2.macKey.equals(k1.macKey)).toBe(false);
    cache.get(key.key, header(3)); // evicts salt 1 (bounded to 2)
    expect(cache.get(key.key, header(1))).not.toBe(k1);
  });
});
