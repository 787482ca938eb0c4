// Windows Explorer (Mini-Redirector / WebClient) replayed against the composed,
// ENCRYPTED gateway (CLIENTS.md §2 and §8): root OPTIONS/PROPFIND probing as DavClnt,
// MS-Author-Via, 401 (never 3xx), folders without slash, 0-byte PUT → LOCK → PUT with
// If → PROPPATCH of Win32 props (one <set>) → UNLOCK without brackets, quota props for
// Explorer, and a 1,000-entry allprop Depth 1 listing under 1,000,000 bytes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, propfindBody, responsesOf, startClientGateway, type ClientGateway } from '../helpers/clients.js';

const WIN = { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' };
const WIN_LOCK = '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner><D:href>CORP\\alice</D:href></D:owner></D:lockinfo>';
const MODIFIED = 'Tue, 14 Mar 2023 09:26:53 GMT';
const WIN32_PROPPATCH = '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>' +
  `<Z:Win32CreationTime>Tue, 14 Mar 2023 09:26:50 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Wed, 15 Mar 2023 10:00:00 GMT</Z:Win32LastAccessTime>` +
  `<Z:Win32LastModifiedTime>${MODIFIED}</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>` +
  '</D:prop></D:set></D:propertyupdate>';

let c: ClientGateway;
beforeAll(async () => { c = await startClientGateway(); });
afterAll(async () => {
  expect(c.problems()).toEqual([]);
  await c.close();
});

describe('Windows mapping a drive', () => {
  it('OPTIONS / as DavClnt without credentials → 200, DAV: 1, 2, MS-Author-Via: DAV, no X-MSDAVEXT, no redirect', async () => {
    const r = await c.req('OPTIONS', '/', { auth: null, headers: { 'user-agent': 'DavClnt', translate: 'f' } });
    expect(r.status).toBe(200);
    expect(r.headers['ms-author-via']).toBe('DAV');
    expect(String(r.headers.dav)).toMatch(/1,\s*2/);
    expect(r.headers['x-msdavext']).toBeUndefined();
    expect(r.headers.location).toBeUndefined();
  });

  it('PROPFIND / Depth 0 with an empty body: 401 Basic without credentials, 207 with them (also as DOMAIN\\user)', async () => {
    const anon = await c.req('PROPFIND', '/', { auth: null, headers: { ...WIN, depth: '0', 'content-length': '0' } });
    expect(anon.status).toBe(401);
    expect(String(anon.headers['www-authenticate'])).toMatch(/^Basic /);
    const r = await c.req('PROPFIND', '/', { headers: { ...WIN, depth: '0', 'content-length': '0' } });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:collection/>');
    const domain = 'Basic ' + Buffer.from(`CORP\\alice:${c.gw.users.alice}`, 'utf8').toString('base64');
    expect((await c.req('PROPFIND', '/', { auth: domain, headers: { ...WIN, depth: '0' } })).status).toBe(207);
  });

  it('quota-available-bytes / quota-used-bytes are real numbers (Explorer free space)', async () => {
    const r = await c.req('PROPFIND', '/', { headers: { ...WIN, depth: '0' }, body: propfindBody(['quota-available-bytes', 'quota-used-bytes']) });
    expect(r.status).toBe(207);
    expect(Number(/<D:quota-available-bytes>(\d+)</.exec(r.text)?.[1])).toBeGreaterThan(0);
    expect(Number(/<D:quota-used-bytes>(\d+)</.exec(r.text)?.[1])).toBeGreaterThanOrEqual(0);
    expect(r.text).not.toContain('404 Not Found');
  });

  it('a folder requested without its slash is answered directly (207, never 301)', async () => {
    expect((await c.req('MKCOL', '/Documents', { headers: WIN })).status).toBe(201);
    const r = await c.req('PROPFIND', '/Documents', { headers: { ...WIN, depth: '1' } });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:href>/Documents/</D:href>');
  });
});

describe('Windows saving a file (encrypted mount)', () => {
  it('PUT 0 → LOCK → PUT with If → PROPPATCH Win32 props with If → UNLOCK without brackets; bytes equal', async () => {
    const body = bytesOf(300_000, 11);
    expect((await c.req('PUT', '/Documents/report.docx', { headers: { ...WIN, 'content-length': '0' } })).status).toBe(201);
    const lock = await c.req('LOCK', '/Documents/report.docx', { headers: { ...WIN, timeout: 'Second-3600', 'content-type': 'text/xml; charset="utf-8"' }, body: WIN_LOCK });
    expect(lock.status).toBe(200);
    const token = /^<(opaquelocktoken:[^>]+)>$/.exec(String(lock.headers['lock-token']))?.[1];
    expect(token).toBeDefined();
    expect(lock.text).toContain('Second-3600');
    // Another writer (no token) is kept out while Windows holds the lock.
    expect((await c.req('PUT', '/Documents/report.docx', { headers: WIN, body: 'other' })).status).toBe(423);
    const put = await c.req('PUT', '/Documents/report.docx', { headers: { ...WIN, if: `(<${token}>)` }, body });
    expect(put.status).toBe(204);
    const pp = await c.req('PROPPATCH', '/Documents/report.docx', { headers: { ...WIN, if: `(<${token}>)`, 'content-type': 'text/xml; charset="utf-8"' }, body: WIN32_PROPPATCH });
    expect(pp.status).toBe(207);
    expect(pp.text.match(/<X:Win32\w+ xmlns:X="urn:schemas-microsoft-com:"\/>/g)).toHaveLength(4);
    expect(pp.text).not.toContain('<urn:');
    expect(pp.text).toContain('HTTP/1.1 200 OK');
    expect(pp.text).not.toMatch(/HTTP\/1.1 (403|424|409)/);
    expect((await c.req('UNLOCK', '/Documents/report.docx', { headers: { ...WIN, 'lock-token': token! } })).status).toBe(204);

    const got = await c.req('GET', '/Documents/report.docx', { headers: WIN });
    expect(got.body.equals(body)).toBe(true);
    const props = await c.req('PROPFIND', '/Documents/report.docx', { headers: { ...WIN, depth: '0' } });
    expect(props.text).toContain(`<D:getlastmodified>${MODIFIED}</D:getlastmodified>`);
    expect(props.text).toContain(`<D:getcontentlength>${body.length}</D:getcontentlength>`);
    const atRest = await readFile(join(c.gw.storageRoot, 'alice', 'Documents', 'report.docx'));
    expect(atRest.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
  });

  it('Explorer probes (desktop.ini, Thumbs.db, folder.jpg, autorun.inf) → 404; folder PROPPATCH of Win32 props → 207/200', async () => {
    for (const n of ['desktop.ini', 'Thumbs.db', 'folder.jpg', 'folder.gif', 'autorun.inf', 'Desktop.ini']) {
      const r = await c.req('PROPFIND', `/Documents/${n}`, { headers: { ...WIN, depth: '0' } });
      expect(r.status, n).toBe(404);
      expect(r.ms, n).toBeLessThan(500);
    }
    const pp = await c.req('PROPPATCH', '/Documents', { headers: WIN, body: WIN32_PROPPATCH.replace('00000020', '00000010') });
    expect(pp.status).toBe(207);
    expect(pp.text).toContain('<D:href>/Documents/</D:href>');
    expect(pp.text).not.toMatch(/HTTP\/1.1 (403|424)/);
  });

  it('folder MOVE/COPY without Depth act as infinity', async () => {
    await c.req('MKCOL', '/Old', { headers: WIN });
    await c.req('PUT', '/Old/x.txt', { headers: WIN, body: 'inside' });
    expect((await c.req('COPY', '/Old', { headers: { ...WIN, destination: `${c.url}/Copy` } })).status).toBe(201);
    expect((await c.req('MOVE', '/Old', { headers: { ...WIN, destination: `${c.url}/New` } })).status).toBe(201);
    expect((await c.req('GET', '/New/x.txt')).text).toBe('inside');
    expect((await c.req('GET', '/Copy/x.txt')).text).toBe('inside');
    expect((await c.req('PROPFIND', '/Old', { headers: { ...WIN, depth: '0' } })).status).toBe(404);
  });
});

describe('Windows listing size', () => {
  it('1,000-entry allprop Depth 1 (empty body) stays under 1,000,000 bytes', async () => {
    await c.req('MKCOL', '/Big', { headers: WIN });
    const names = Array.from({ length: 1000 }, (_, i) => `Quarterly report ${String(i).padStart(4, '0')} final.docx`);
    for (let i = 0; i < names.length; i += 25) {
      const batch = names.slice(i, i + 25);
      const codes = await Promise.all(batch.map((n) => c.req('PUT', `/Big/${encodeURIComponent(n)}`, { body: n }).then((r) => r.status)));
      expect(codes.every((s) => s === 201)).toBe(true);
    }
    const r = await c.req('PROPFIND', '/Big', { headers: { ...WIN, depth: '1' } });
    expect(r.status).toBe(207);
    expect(responsesOf(r.text)).toHaveLength(1001);
    expect(r.body.length).toBeLessThan(1_000_000);
    const one = responsesOf(r.text).find((x) => x.includes('Quarterly%20report%200007'))!;
    expect(one).toContain(`<D:getcontentlength>${names[7]!.length}</D:getcontentlength>`);
    console.log(`Windows allprop Depth 1 over 1,000 encrypted files: ${r.body.length} bytes in ${r.ms} ms`);
  });
});
