// macOS Finder (WebDAVFS) replayed against the composed, ENCRYPTED gateway
// (CLIENTS.md §1 and §8): mount probes, quota within 1 s (hidden from macOS >= 15.4),
// junk-file probes answered 404 fast, the create → LOCK → chunked PUT with
// X-Expected-Entity-Length → AppleDouble → UNLOCK sequence, bytes read back equal
// to bytes written, ciphertext at rest, and the negative cases.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, propfindBody, responsesOf, startClientGateway, statusLine, type ClientGateway } from '../helpers/clients.js';

const UA = 'WebDAVFS/3.0.1 (03018000) Darwin/13.1.0 (x86_64)';
const UA_SEQUOIA = 'WebDAVFS/3.0.0 (03008000) Darwin/24.4.0 (arm64)';
const MOUNT_PROPS = ['getlastmodified', 'getcontentlength', 'creationdate', 'resourcetype'];
const QUOTA_PROPS = ['quota-available-bytes', 'quota-used-bytes', 'quota', 'quotaused'];
const FINDER_LOCK = '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:">\n<D:lockscope><D:exclusive/></D:lockscope>\n' +
  '<D:locktype><D:write/></D:locktype>\n<D:owner>\n<D:href>http://www.apple.com/webdav_fs/</D:href>\n</D:owner>\n</D:lockinfo>\n';

let c: ClientGateway;
const ua = { 'user-agent': UA };
beforeAll(async () => { c = await startClientGateway(); });
afterAll(async () => {
  expect(c.problems()).toEqual([]);
  await c.close();
});

/** Finder's streaming PUT: `Transfer-Encoding: Chunked`, X-Expected-Entity-Length, no Content-Length. */
function chunkedPut(path: string, body: Buffer, opts: { token?: string; expected?: number; chunk?: number } = {}): Buffer {
  const step = opts.chunk ?? 32 * 1024;
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += step) {
    const part = body.subarray(i, i + step);
    parts.push(Buffer.from(part.length.toString(16) + '\r\n', 'latin1'), part, Buffer.from('\r\n'));
  }
  const framed = `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ${UA}\r\nAuthorization: ${c.gw.authHeader()}\r\nContent-Type: application/octet-stream\r\n` +
    `Transfer-Encoding: Chunked\r\nX-Expected-Entity-Length: ${opts.expected ?? body.length}\r\n` +
    (opts.token ? `If: (<${opts.token}>)\r\n` : '') + 'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(framed, 'latin1'), ...parts, Buffer.from('0\r\n\r\n')]);
}

async function lock(path: string) {
  const r = await c.req('LOCK', path, { headers: { ...ua, depth: '0', timeout: 'Second-600', 'content-type': 'text/xml; charset="utf-8"' }, body: FINDER_LOCK });
  return { r, token: String(r.headers['lock-token'] ?? '').replace(/^<|>$/g, '') };
}

describe('Finder mount', () => {
  it('OPTIONS / without credentials advertises class 2 (read-write mount)', async () => {
    const r = await c.req('OPTIONS', '/', { auth: null, headers: { 'user-agent': 'WebDAVLib/1.3', accept: '*/*' } });
    expect(r.status).toBe(200);
    expect(String(r.headers.dav)).toMatch(/\b2\b/);
    expect(String(r.headers.allow)).toMatch(/LOCK/);
  });

  it('PROPFIND without credentials → 401 Basic challenge; with them → 207 collection', async () => {
    const anon = await c.req('PROPFIND', '/', { auth: null, headers: { ...ua, depth: '0' }, body: propfindBody(MOUNT_PROPS) });
    expect(anon.status).toBe(401);
    expect(String(anon.headers['www-authenticate'])).toMatch(/^Basic realm="/);
    const r = await c.req('PROPFIND', '/', { headers: { ...ua, depth: '0', 'content-type': 'text/xml' }, body: propfindBody(MOUNT_PROPS) });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:collection/>');
    const modified = /<D:getlastmodified>([^<]+)</.exec(r.text)?.[1];
    expect(modified && Date.parse(modified)).toBeGreaterThan(0); // never before 1970 (aborts the mount)
  });

  it('allprop on the root answers 207', async () => {
    const r = await c.req('PROPFIND', '/', { headers: { ...ua, depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:supportedlock>');
  });

  it('quota PROPFIND answers within 1 s with real numbers; hidden from macOS >= 15.4 (auto)', async () => {
    const r = await c.req('PROPFIND', '/', { headers: { ...ua, depth: '0' }, body: propfindBody(QUOTA_PROPS) });
    expect(r.status).toBe(207);
    expect(r.ms).toBeLessThan(1000);
    expect(Number(/<D:quota-available-bytes>(\d+)</.exec(r.text)?.[1])).toBeGreaterThan(0);
    expect(/<D:quota-used-bytes>(\d+)</.test(r.text)).toBe(true);
    const sequoia = await c.req('PROPFIND', '/', { headers: { 'user-agent': UA_SEQUOIA, depth: '0' }, body: propfindBody(QUOTA_PROPS) });
    expect(sequoia.status).toBe(207);
    expect(sequoia.ms).toBeLessThan(1000);
    expect(sequoia.text).not.toMatch(/<D:quota-available-bytes>\d/);
  });

  it('probes of ._., .DS_Store, mach_kernel and friends → 404, fast, several times each', async () => {
    const names = ['._.', '.DS_Store', 'mach_kernel', '.Spotlight-V100', 'Backups.backupdb', '.metadata_never_index', 'Contents', '.hidden'];
    const started = Date.now();
    for (let round = 0; round < 3; round++) {
      for (const n of names) {
        const r = await c.req('PROPFIND', `/${n}`, { headers: { ...ua, depth: '0' }, body: propfindBody(MOUNT_PROPS) });
        expect(r.status, n).toBe(404);
        expect(r.ms, n).toBeLessThan(500);
      }
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('Finder writes (encrypted mount)', () => {
  it('create → LOCK → chunked PUT with X-Expected-Entity-Length → AppleDouble → UNLOCK; bytes equal, ciphertext at rest', async () => {
    const body = bytesOf(200_000, 3); // spans several encryption segments and chunk boundaries
    expect((await c.req('PROPFIND', '/photo.raw', { headers: { ...ua, depth: '0' }, body: propfindBody(MOUNT_PROPS) })).status).toBe(404);
    expect((await c.req('PUT', '/photo.raw', { headers: { ...ua, 'content-length': '0' } })).status).toBe(201);
    // Finder may LOCK/UNLOCK twice before the real write.
    const first = await lock('/photo.raw');
    expect(first.r.status).toBe(200);
    expect((await c.req('UNLOCK', '/photo.raw', { headers: { ...ua, 'lock-token': `<${first.token}>` } })).status).toBe(204);
    const { r, token } = await lock('/photo.raw');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<D:timeout>Second-600</D:timeout>');
    expect(r.text).toContain('http://www.apple.com/webdav_fs/');
    const put = await c.raw(chunkedPut('/photo.raw', body, { token }), 5000);
    expect(statusLine(put)).toBe('HTTP/1.1 204 No Content');
    // AppleDouble: created empty, then written.
    expect((await c.req('PUT', '/._photo.raw', { headers: { ...ua, 'content-length': '0' } })).status).toBe(201);
    const apple = bytesOf(4096, 4);
    expect(statusLine(await c.raw(chunkedPut('/._photo.raw', apple), 3000))).toBe('HTTP/1.1 204 No Content');
    expect((await c.req('UNLOCK', '/photo.raw', { headers: { ...ua, 'lock-token': `<${token}>` } })).status).toBe(204);

    const got = await c.req('GET', '/photo.raw', { headers: ua });
    expect(got.status).toBe(200);
    expect(got.body.equals(body)).toBe(true);
    expect((await c.req('GET', '/._photo.raw')).body.equals(apple)).toBe(true);
    const atRest = await readFile(join(c.gw.storageRoot, 'alice', 'photo.raw'));
    expect(atRest.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect(atRest.includes(body.subarray(1000, 1064))).toBe(false);

    // The listing agrees with what was written: AppleDouble visible, plaintext sizes.
    const list = await c.req('PROPFIND', '/', {
      headers: { ...ua, depth: '1' },
      body: propfindBody([...MOUNT_PROPS, '{http://www.apple.com/webdav_fs/props/}appledoubleheader']),
    });
    expect(list.status).toBe(207);
    const entry = responsesOf(list.text).find((x) => x.includes('<D:href>/photo.raw</D:href>'))!;
    expect(entry).toContain(`<D:getcontentlength>${body.length}</D:getcontentlength>`);
    expect(entry).toMatch(/appledoubleheader[^>]*\/><\/D:prop><D:status>HTTP\/1.1 404/);
    expect(responsesOf(list.text).some((x) => x.includes('<D:href>/._photo.raw</D:href>') && x.includes('<D:getcontentlength>4096<'))).toBe(true);
  });

  it('lock refresh (LOCK with If, no body), PUT without the token → 423', async () => {
    await c.req('PUT', '/locked.txt', { body: 'v1' });
    const { token } = await lock('/locked.txt');
    const refresh = await c.req('LOCK', '/locked.txt', { headers: { ...ua, if: `(<${token}>)`, timeout: 'Second-600' } });
    expect(refresh.status).toBe(200);
    expect((await c.req('PUT', '/locked.txt', { headers: ua, body: 'intruder' })).status).toBe(423);
    expect((await c.req('GET', '/locked.txt')).text).toBe('v1');
    expect((await c.req('UNLOCK', '/locked.txt', { headers: { 'lock-token': `<${token}>` } })).status).toBe(204);
  });

  it('chunked PUT shorter or longer than X-Expected-Entity-Length is refused and keeps the old bytes', async () => {
    await c.req('PUT', '/keep.txt', { body: 'previous version!' });
    const empty = await c.raw(chunkedPut('/keep.txt', Buffer.alloc(0), { expected: 21 }), 3000);
    expect(statusLine(empty)).toMatch(/^HTTP\/1.1 4\d\d /);
    const long = await c.raw(chunkedPut('/keep.txt', Buffer.from('x'.repeat(30)), { expected: 21 }), 3000);
    expect(statusLine(long)).toMatch(/^HTTP\/1.1 4\d\d /);
    expect((await c.req('GET', '/keep.txt')).text).toBe('previous version!');
  });

  it('resumed read: Range bytes=N- with If-Range → 206 of the plaintext tail', async () => {
    const body = bytesOf(150_000, 9);
    await c.req('PUT', '/resume.bin', { body });
    const etag = String((await c.req('HEAD', '/resume.bin')).headers.etag);
    const r = await c.req('GET', '/resume.bin', { headers: { ...ua, range: 'bytes=70000-', 'if-range': etag } });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 70000-149999/150000`);
    expect(r.body.equals(body.subarray(70000))).toBe(true);
    const cached = await c.req('GET', '/resume.bin', { headers: { ...ua, 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() } });
    expect(cached.status).toBe(304);
  });

  it('decomposed unicode names (u + U+0308) round-trip with the same href', async () => {
    const put = await c.req('PUT', '/Mu%CC%88nchen%20Fotos.txt', { headers: ua, body: 'grüße' });
    expect(put.status).toBe(201);
    const list = await c.req('PROPFIND', '/', { headers: { ...ua, depth: '1' }, body: propfindBody(MOUNT_PROPS) });
    expect(list.text).toContain('<D:href>/Mu%CC%88nchen%20Fotos.txt</D:href>');
    expect((await c.req('GET', '/Mu%CC%88nchen%20Fotos.txt')).text).toBe('grüße');
  });

  it('rename (MOVE, absolute Destination, no Overwrite) and rmdir (children first, then folder)', async () => {
    expect((await c.req('MKCOL', '/album/', { headers: ua })).status).toBe(201);
    await c.req('PUT', '/album/a.jpg', { body: bytesOf(10, 1) });
    await c.req('PUT', '/album/._a.jpg', { body: bytesOf(10, 2) });
    const mv = await c.req('MOVE', '/album/a.jpg', { headers: { ...ua, destination: `${c.url}/album/b.jpg` } });
    expect(mv.status).toBe(201);
    expect((await c.req('GET', '/album/b.jpg')).body.equals(bytesOf(10, 1))).toBe(true);
    const listing = await c.req('PROPFIND', '/album/', { headers: { ...ua, depth: '1' }, body: propfindBody(MOUNT_PROPS) });
    expect(responsesOf(listing.text)).toHaveLength(3);
    for (const n of ['b.jpg', '._a.jpg']) expect((await c.req('DELETE', `/album/${n}`, { headers: ua })).status).toBe(204);
    expect((await c.req('DELETE', '/album/', { headers: ua })).status).toBe(204);
    expect((await c.req('PROPFIND', '/album/', { headers: { ...ua, depth: '0' } })).status).toBe(404);
  });
});
