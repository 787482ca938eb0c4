// rclone's ownCloud-vendor extensions replayed against the composed, ENCRYPTED gateway
// (CLIENTS.md §5): `X-OC-Mtime` on PUT/COPY/MOVE applied through backend.setModified and
// answered `X-OC-MTime: accepted` only then; the `<D:lastmodified>` PROPPATCH fix-up
// (200 only when applied, else 403 so rclone re-uploads); `OC-Checksum` ignored; the
// `rclone about` quota PROPFIND. The backend without setModified is a WebDAV one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, startClientGateway, type ClientGateway } from '../helpers/clients.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const RCLONE = { 'user-agent': 'rclone/v1.60.1-DEV' };
const propset = (unix: string) => `<?xml version="1.0" encoding="utf-8" ?>\n<D:propertyupdate xmlns:D="DAV:">\n <D:set>\n  <D:prop>\n` +
  `   <lastmodified xmlns="DAV:">${unix}</lastmodified>\n  </D:prop>\n </D:set>\n</D:propertyupdate>\n`;
const T1 = 1_000_000_000; // 2001-09-09T01:46:40Z
const lastModified = async (c: ClientGateway, path: string) => Date.parse(String((await c.req('HEAD', path)).headers['last-modified']));

describe('rclone vendor=owncloud on a local (setModified-capable) backend', () => {
  let c: ClientGateway;
  beforeAll(async () => { c = await startClientGateway(); });
  afterAll(async () => {
    expect(c.problems()).toEqual([]);
    await c.close();
  });

  it('PUT with X-OC-Mtime → mtime applied, X-OC-MTime: accepted, ETag of the final version', async () => {
    const body = bytesOf(5000, 1);
    const put = await c.req('PUT', '/oc.bin', { headers: { ...RCLONE, 'x-oc-mtime': String(T1), 'oc-checksum': 'SHA1:0000000000000000000000000000000000000000' }, body });
    expect(put.status).toBe(201);
    expect(put.headers['x-oc-mtime']).toBe('accepted');
    expect(await lastModified(c, '/oc.bin')).toBe(T1 * 1000);
    const head = await c.req('HEAD', '/oc.bin');
    expect(head.headers.etag).toBe(put.headers.etag);
    expect((await c.req('GET', '/oc.bin')).body.equals(body)).toBe(true); // a wrong OC-Checksum is ignored
    const again = await c.req('PUT', '/oc.bin', { headers: { ...RCLONE, 'x-oc-mtime': String(T1 + 60) }, body });
    expect(again.status).toBe(204);
    expect(await lastModified(c, '/oc.bin')).toBe((T1 + 60) * 1000);
  });

  it('malformed X-OC-Mtime is ignored (no accepted header, file written)', async () => {
    for (const bad of ['-5', 'yesterday', '1e9', '99999999999999']) {
      const r = await c.req('PUT', '/bad-mtime.txt', { headers: { 'x-oc-mtime': bad }, body: 'x' });
      expect(r.status, bad).toBeLessThan(300);
      expect(r.headers['x-oc-mtime'], bad).toBeUndefined();
    }
  });

  it('COPY and MOVE with X-OC-Mtime apply it to the destination', async () => {
    await c.req('PUT', '/src.txt', { body: 'copy me' });
    const copy = await c.req('COPY', '/src.txt', { headers: { ...RCLONE, destination: `${c.url}/copy.txt`, overwrite: 'T', 'x-oc-mtime': String(T1 + 5) } });
    expect(copy.status).toBe(201);
    expect(copy.headers['x-oc-mtime']).toBe('accepted');
    expect(await lastModified(c, '/copy.txt')).toBe((T1 + 5) * 1000);
    const move = await c.req('MOVE', '/copy.txt', { headers: { ...RCLONE, destination: `${c.url}/moved.txt`, overwrite: 'T', 'x-oc-mtime': String(T1 + 7) } });
    expect(move.status).toBe(201);
    expect(move.headers['x-oc-mtime']).toBe('accepted');
    expect(await lastModified(c, '/moved.txt')).toBe((T1 + 7) * 1000);
    expect((await c.req('GET', '/moved.txt')).text).toBe('copy me');
  });

  it('PROPPATCH <D:lastmodified> sets the mtime (200) and is not kept as a dead property', async () => {
    await c.req('PUT', '/touch.txt', { body: 'touch' });
    const r = await c.req('PROPPATCH', '/touch.txt', { headers: RCLONE, body: propset(String(T1 + 100)) });
    expect(r.status).toBe(207);
    expect(r.text).toContain('HTTP/1.1 200 OK');
    expect(await lastModified(c, '/touch.txt')).toBe((T1 + 100) * 1000);
    const all = await c.req('PROPFIND', '/touch.txt', { headers: { depth: '0' } });
    expect(all.text).not.toContain('lastmodified>1000000100');
    const bad = await c.req('PROPPATCH', '/touch.txt', { body: propset('not a time') });
    expect(bad.text).toContain('HTTP/1.1 403 Forbidden');
    await c.req('MKCOL', '/folder');
    expect((await c.req('PROPPATCH', '/folder', { body: propset(String(T1)) })).text).toContain('HTTP/1.1 403 Forbidden');
  });

  it('rclone about: quota PROPFIND at Depth 0 gives used and available bytes', async () => {
    const r = await c.req('PROPFIND', '/', { headers: { ...RCLONE, depth: '0' },
      body: '<?xml version="1.0" ?>\n<D:propfind xmlns:D="DAV:">\n <D:prop>\n  <D:quota-available-bytes/>\n  <D:quota-used-bytes/>\n </D:prop>\n</D:propfind>\n' });
    expect(r.status).toBe(207);
    expect(Number(/<D:quota-available-bytes>(\d+)</.exec(r.text)?.[1])).toBeGreaterThan(0);
    expect(/<D:quota-used-bytes>\d+</.test(r.text)).toBe(true);
  });
});

describe('rclone vendor=owncloud on a WebDAV backend (no setModified)', () => {
  let backend: TestGateway;
  let c: ClientGateway;
  beforeAll(async () => {
    backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    c = await startClientGateway({ backend: { webdavUrl: backend.url, username: 'svc', password: 'svc-pw' }, config: { keys: { backendKeyring: false } } });
  });
  afterAll(async () => {
    expect(c.problems()).toEqual([]);
    await c.close();
    await backend.close();
  });

  it('PUT with X-OC-Mtime is stored but not "accepted"; the PROPPATCH fix-up → 403 (rclone then re-uploads)', async () => {
    const put = await c.req('PUT', '/x.txt', { headers: { ...RCLONE, 'x-oc-mtime': String(T1) }, body: 'remote' });
    expect(put.status).toBe(201);
    expect(put.headers['x-oc-mtime']).toBeUndefined();
    expect(await lastModified(c, '/x.txt')).not.toBe(T1 * 1000);
    const pp = await c.req('PROPPATCH', '/x.txt', { body: propset(String(T1)) });
    expect(pp.status).toBe(207);
    expect(pp.text).toContain('HTTP/1.1 403 Forbidden');
    expect((await c.req('GET', '/x.txt')).text).toBe('remote');
  });
});
