// davfs2 1.6 (neon) request pattern replayed against the composed, ENCRYPTED gateway
// (CLIENTS.md §3 and §8): mount PROPFINDs (with apache `executable`), quota, create
// by LOCK on an unmapped URL, HEAD for the ETag, PUT with If-Match + tagged If, UNLOCK,
// conditional re-open, MKCOL/MOVE/DELETE with slashes. The real mount runs in
// test/interop/clients-davfs2.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, propfindBody, responsesOf, startClientGateway, type ClientGateway } from '../helpers/clients.js';

const UA = { 'user-agent': 'davfs2/1.6.1 neon/0.32.5' };
const LIST_PROPS = ['resourcetype', 'getcontentlength', 'getetag', 'getlastmodified', '{http://apache.org/dav/props/}executable'];
const LOCK_BODY = '<?xml version="1.0" encoding="utf-8"?>\n<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype><owner>alice</owner></lockinfo>\n';

let c: ClientGateway;
beforeAll(async () => { c = await startClientGateway(); });
afterAll(async () => {
  expect(c.problems()).toEqual([]);
  await c.close();
});

describe('davfs2', () => {
  it('mount: OPTIONS /, PROPFIND / Depth 1 (4 props + executable), quota Depth 0', async () => {
    expect((await c.req('OPTIONS', '/', { headers: UA })).status).toBe(200);
    await c.req('PUT', '/seed.txt', { body: 'seed' });
    const list = await c.req('PROPFIND', '/', { headers: { ...UA, depth: '1', 'content-type': 'application/xml' }, body: propfindBody(LIST_PROPS) });
    expect(list.status).toBe(207);
    const seed = responsesOf(list.text).find((r) => r.includes('<D:href>/seed.txt</D:href>'))!;
    expect(seed).toContain('<D:getcontentlength>4</D:getcontentlength>');
    expect(seed).toMatch(/<D:getetag>(&quot;|")[^<]+(&quot;|")<\/D:getetag>/);
    expect(seed).toMatch(/executable xmlns:X="http:\/\/apache.org\/dav\/props\/"\/><\/D:prop><D:status>HTTP\/1.1 404/);
    const quota = await c.req('PROPFIND', '/', { headers: { ...UA, depth: '0' }, body: propfindBody(['quota-available-bytes', 'quota-used-bytes']) });
    expect(quota.text).toMatch(/<D:quota-available-bytes>\d+</);
  });

  it('create: LOCK unmapped → 201, HEAD ETag, PUT If-Match + tagged If → 204, UNLOCK → 204; bytes equal', async () => {
    const lock = await c.req('LOCK', '/new.bin', { headers: { ...UA, depth: '0', timeout: 'Second-1800', 'content-type': 'application/xml' }, body: LOCK_BODY });
    expect(lock.status).toBe(201);
    const token = String(lock.headers['lock-token']).replace(/^<|>$/g, '');
    const head = await c.req('HEAD', '/new.bin', { headers: UA });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('0');
    const etag = String(head.headers.etag);
    const body = bytesOf(100_000, 21);
    const put = await c.req('PUT', '/new.bin', { headers: { ...UA, 'if-match': etag, if: `<${c.url}/new.bin> (<${token}>)` }, body });
    expect(put.status).toBe(204);
    // Lock refresh as davfs2 does it (tagged If, no body).
    const refresh = await c.req('LOCK', '/new.bin', { headers: { ...UA, timeout: 'Second-1800', if: `<${c.url}/new.bin> (<${token}>)` } });
    expect(refresh.status).toBe(200);
    expect((await c.req('UNLOCK', '/new.bin', { headers: { ...UA, 'lock-token': `<${token}>` } })).status).toBe(204);
    expect((await c.req('GET', '/new.bin', { headers: UA })).body.equals(body)).toBe(true);
  });

  it('a stale If-Match (someone else changed the file) → 412, nothing written', async () => {
    await c.req('PUT', '/shared.txt', { body: 'v1' });
    const old = String((await c.req('HEAD', '/shared.txt')).headers.etag);
    await c.req('PUT', '/shared.txt', { body: 'v2 from elsewhere' });
    expect((await c.req('PUT', '/shared.txt', { headers: { ...UA, 'if-match': old }, body: 'v3' })).status).toBe(412);
    expect((await c.req('GET', '/shared.txt')).text).toBe('v2 from elsewhere');
  });

  it('re-open: GET with stale If-None-Match → 200, current → 304; If-Modified-Since → 304', async () => {
    const stale = String((await c.req('HEAD', '/seed.txt')).headers.etag);
    await c.req('PUT', '/seed.txt', { body: 'seed v2' });
    const head = await c.req('HEAD', '/seed.txt');
    const now = String(head.headers.etag);
    expect(now).not.toBe(stale);
    const r = await c.req('GET', '/seed.txt', { headers: { ...UA, 'if-none-match': stale, 'if-modified-since': 'Thu, 01 Jan 1970 00:00:01 GMT' } });
    expect(r.status).toBe(200);
    expect(r.text).toBe('seed v2');
    expect((await c.req('GET', '/seed.txt', { headers: { ...UA, 'if-none-match': now } })).status).toBe(304);
    expect((await c.req('GET', '/seed.txt', { headers: { ...UA, 'if-modified-since': String(head.headers['last-modified']) } })).status).toBe(304);
  });

  it('class-1 style create: PUT with If-None-Match: * → 201, again → 412', async () => {
    expect((await c.req('PUT', '/once.txt', { headers: { ...UA, 'if-none-match': '*' }, body: 'first' })).status).toBe(201);
    expect((await c.req('PUT', '/once.txt', { headers: { ...UA, 'if-none-match': '*' }, body: 'second' })).status).toBe(412);
    expect((await c.req('GET', '/once.txt')).text).toBe('first');
  });

  it('MKCOL dir/, MOVE absolute + Overwrite: T, DELETE dir/', async () => {
    expect((await c.req('MKCOL', '/dir/', { headers: UA })).status).toBe(201);
    await c.req('PUT', '/dir/a.txt', { body: 'a' });
    await c.req('PUT', '/dir/b.txt', { body: 'b' });
    expect((await c.req('MOVE', '/dir/a.txt', { headers: { ...UA, destination: `${c.url}/dir/b.txt`, overwrite: 'T' } })).status).toBe(204);
    expect((await c.req('GET', '/dir/b.txt')).text).toBe('a');
    expect((await c.req('MOVE', '/dir/', { headers: { ...UA, destination: `${c.url}/dir2/`, overwrite: 'T' } })).status).toBe(201);
    expect((await c.req('DELETE', '/dir2/', { headers: UA })).status).toBe(204);
    expect((await c.req('PROPFIND', '/dir2/', { headers: { ...UA, depth: '0' } })).status).toBe(404);
  });
});
