// Locks and If headers: Finder, Windows and davfs2 sequences from CLIENTS.md §8,
// per-token enforcement, shared/exclusive, depth infinity, refresh, timeouts,
// UNLOCK token forms, unmapped LOCK, tagged/untagged/Not/etag If shapes.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIfHeader } from '../../src/server/conditions.js';
import { dav, rawHttp, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h.close(); });

const lockBody = (scope: 'exclusive' | 'shared', owner = '<D:href>http://www.apple.com/webdav_fs/</D:href>') =>
  `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;

async function lock(path: string, headers: Record<string, string> = {}, scope: 'exclusive' | 'shared' = 'exclusive') {
  const r = await dav(h, 'LOCK', path, { headers: { 'content-type': 'text/xml; charset="utf-8"', timeout: 'Second-600', ...headers }, body: lockBody(scope) });
  const token = String(r.headers['lock-token'] ?? '').replace(/^<|>$/g, '');
  return { r, token };
}

describe('If header parser', () => {
  it('parses untagged, tagged, Not and etag conditions', () => {
    expect(parseIfHeader('(<opaquelocktoken:a>)')).toEqual([{ resource: undefined, conditions: [{ not: false, kind: 'token', value: 'opaquelocktoken:a' }] }]);
    const tagged = parseIfHeader('<http://h/x%20y> (<opaquelocktoken:a> ["e1"]) (Not <DAV:no-lock>)');
    expect(tagged).toHaveLength(2);
    expect(tagged[0]!.resource).toBe('/x y');
    expect(tagged[0]!.conditions[1]).toEqual({ not: false, kind: 'etag', value: '"e1"' });
    expect(tagged[1]!.conditions[0]).toEqual({ not: true, kind: 'token', value: 'DAV:no-lock' });
    expect(() => parseIfHeader('(<a>) <http://h/> (<b>)')).toThrow();
  });
});

describe('Finder sequence (WebDAVFS/3.0.1)', () => {
  const ua = { 'user-agent': 'WebDAVFS/3.0.1 (03018000) Darwin/13.1.0 (x86_64)' };
  it('creates, locks, writes chunked with If, writes AppleDouble, unlocks', async () => {
    expect((await dav(h, 'PROPFIND', '/a.txt', { headers: { ...ua, depth: '0' } })).status).toBe(404);
    expect((await dav(h, 'PUT', '/a.txt', { headers: { ...ua, 'content-length': '0' }, body: '' })).status).toBe(201);
    const { r, token } = await lock('/a.txt', { ...ua, depth: '0' });
    expect(r.status).toBe(200);
    expect(token).toMatch(/^opaquelocktoken:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.text).toContain('<D:timeout>Second-600</D:timeout>');
    expect(r.text).toContain('http://www.apple.com/webdav_fs/');
    const put = await rawHttp(h, `PUT /a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nTransfer-Encoding: Chunked\r\n` +
      `X-Expected-Entity-Length: 21\r\nIf: (<${token}>)\r\nConnection: close\r\n\r\n15\r\nhello finder world!!!\r\n0\r\n\r\n`, 2000);
    expect(put.split('\r\n')[0]).toBe('HTTP/1.1 204 No Content');
    expect((await dav(h, 'GET', '/a.txt')).text).toBe('hello finder world!!!');
    expect((await dav(h, 'PUT', '/._a.txt', { body: '' })).status).toBe(201);
    expect((await dav(h, 'PUT', '/._a.txt', { body: Buffer.alloc(4096, 7) })).status).toBe(204);
    // Negative: without the token the locked file refuses writes, even from the same user.
    expect((await dav(h, 'PUT', '/a.txt', { body: 'intruder' })).status).toBe(423);
    expect((await dav(h, 'DELETE', '/a.txt')).status).toBe(423);
    expect((await dav(h, 'MOVE', '/a.txt', { headers: { destination: '/b.txt' } })).status).toBe(423);
    expect((await dav(h, 'PROPPATCH', '/a.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>' })).status).toBe(423);
    // Refresh: LOCK with If and no body.
    const refresh = await dav(h, 'LOCK', '/a.txt', { headers: { if: `(<${token}>)`, timeout: 'Second-900' } });
    expect(refresh.status).toBe(200);
    expect(refresh.text).toContain('Second-900');
    expect((await dav(h, 'UNLOCK', '/a.txt', { headers: { 'lock-token': `<${token}>` } })).status).toBe(204);
    expect((await dav(h, 'PUT', '/a.txt', { body: 'free again' })).status).toBe(204);
  });
});

describe('Windows sequence (MiniRedir)', () => {
  const win = { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' };
  it('PUT 0 → LOCK → PUT with If → PROPPATCH with If → UNLOCK without brackets', async () => {
    expect((await dav(h, 'OPTIONS', '/', { auth: null, headers: { 'user-agent': 'DavClnt' } })).headers['ms-author-via']).toBe('DAV');
    expect((await dav(h, 'PROPFIND', '/', { auth: null, headers: { ...win, depth: '0' } })).status).toBe(401);
    expect((await dav(h, 'PUT', '/b.docx', { headers: win, body: '' })).status).toBe(201);
    const { r, token } = await lock('/b.docx', { ...win, timeout: 'Second-3600' });
    expect(r.status).toBe(200);
    expect(r.headers['lock-token']).toBe(`<${token}>`);
    expect((await dav(h, 'PUT', '/b.docx', { headers: { ...win, if: `(<${token}>)` }, body: 'docx bytes' })).status).toBe(204);
    const pp = await dav(h, 'PROPPATCH', '/b.docx', { headers: { ...win, if: `(<${token}>)` },
      body: '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>' });
    expect(pp.status).toBe(207);
    expect((await dav(h, 'UNLOCK', '/b.docx', { headers: { ...win, 'lock-token': token } })).status).toBe(204);
  });

  it('MOVE of a folder without Depth → 201', async () => {
    expect((await dav(h, 'MKCOL', '/wsub')).status).toBe(201);
    expect((await dav(h, 'MOVE', '/wsub', { headers: { ...win, destination: `${h.url}/wsub2` } })).status).toBe(201);
  });
});

describe('davfs2 sequence', () => {
  it('LOCK unmapped → 201, HEAD etag, PUT with If-Match + tagged If, UNLOCK, conditional GET', async () => {
    const { r, token } = await lock('/new', { depth: '0', timeout: 'Second-1800' });
    expect(r.status).toBe(201);
    expect(await readFile(`${h.root}/new`, 'utf8')).toBe('');
    const head = await dav(h, 'HEAD', '/new');
    const etag = String(head.headers.etag);
    const put = await dav(h, 'PUT', '/new', { headers: { 'if-match': etag, if: `<${h.url}/new> (<${token}>)` }, body: 'davfs data' });
    expect(put.status).toBe(204);
    expect((await dav(h, 'UNLOCK', '/new', { headers: { 'lock-token': `<${token}>` } })).status).toBe(204);
    const now = String((await dav(h, 'HEAD', '/new')).headers.etag);
    expect((await dav(h, 'GET', '/new', { headers: { 'if-none-match': etag } })).status).toBe(200);
    expect((await dav(h, 'GET', '/new', { headers: { 'if-none-match': now } })).status).toBe(304);
  });
});

describe('lock semantics', () => {
  it('exclusive conflicts, shared coexist, wrong tokens give 412/409', async () => {
    await writeFile(`${h.root}/s.txt`, 'x');
    const one = await lock('/s.txt', {}, 'shared');
    const two = await lock('/s.txt', {}, 'shared');
    expect([one.r.status, two.r.status]).toEqual([200, 200]);
    expect((await lock('/s.txt', {}, 'exclusive')).r.status).toBe(423);
    expect((await dav(h, 'PUT', '/s.txt', { headers: { if: `(<${two.token}>)` }, body: 'y' })).status).toBe(204);
    expect((await dav(h, 'PUT', '/s.txt', { headers: { if: '(<opaquelocktoken:00000000-0000-4000-8000-000000000000>)' }, body: 'y' })).status).toBe(412);
    expect((await dav(h, 'PUT', '/s.txt', { headers: { if: '(Not <DAV:no-lock>)' }, body: 'y' })).status).toBe(423);
    expect((await dav(h, 'UNLOCK', '/s.txt', { headers: { 'lock-token': '<opaquelocktoken:nope>' } })).status).toBe(409);
    for (const t of [one.token, two.token]) expect((await dav(h, 'UNLOCK', '/s.txt', { headers: { 'lock-token': `<${t}>` } })).status).toBe(204);
  });

  it('depth-infinity collection locks guard members and creation; etag lists with Not', async () => {
    await dav(h, 'MKCOL', '/lc');
    await writeFile(`${h.root}/lc/in.txt`, 'in');
    const { r, token } = await lock('/lc/', { depth: 'infinity' });
    expect(r.status).toBe(200);
    expect((await dav(h, 'PUT', '/lc/in.txt', { body: 'no' })).status).toBe(423);
    expect((await dav(h, 'PUT', '/lc/new.txt', { body: 'no' })).status).toBe(423);
    expect((await dav(h, 'MKCOL', '/lc/sub')).status).toBe(423);
    expect((await dav(h, 'PUT', '/lc/in.txt', { headers: { if: `</lc/> (<${token}>)` }, body: 'yes' })).status).toBe(204);
    const etag = String((await dav(h, 'HEAD', '/lc/in.txt')).headers.etag);
    expect((await dav(h, 'PUT', '/lc/in.txt', { headers: { if: `(<${token}> [${etag}])` }, body: 'yes2' })).status).toBe(204);
    expect((await dav(h, 'PUT', '/lc/in.txt', { headers: { if: `(<${token}> ["bad"]) (Not <DAV:no-lock> ["bad"])` }, body: 'no' })).status).toBe(412);
    const pf = await dav(h, 'PROPFIND', '/lc/in.txt', { headers: { depth: '0' } });
    expect(pf.text).toContain(`<D:href>${token}</D:href>`);
    expect(pf.text).toContain('<D:lockroot><D:href>/lc/</D:href></D:lockroot>');
    expect((await dav(h, 'DELETE', '/lc/', { headers: { if: `(<${token}>)` } })).status).toBe(204);
    expect((await dav(h, 'PUT', '/lc', { body: 'file now' })).status).toBe(201);
  });

  it('expired locks stop guarding (Timeout honoured)', async () => {
    await writeFile(`${h.root}/t.txt`, 'x');
    const r = await dav(h, 'LOCK', '/t.txt', { headers: { timeout: 'Second-1' }, body: lockBody('exclusive') });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/Second-1</);
    expect((await dav(h, 'PUT', '/t.txt', { body: 'y' })).status).toBe(423);
    await new Promise((res) => setTimeout(res, 1200));
    expect((await dav(h, 'PUT', '/t.txt', { body: 'y' })).status).toBe(204);
    const inf = await dav(h, 'LOCK', '/t.txt', { headers: { timeout: 'Infinite, Second-4100000000' }, body: lockBody('exclusive') });
    expect(inf.text).toContain('Second-3600');
  });
});
