// GNOME gvfs (Nautilus, `gio`) and KDE KIO (Dolphin, `kioclient5`) request patterns,
// plus Cyberduck's Expect: 100-continue upload, replayed against the composed,
// ENCRYPTED gateway (CLIENTS.md §4, §6 and §8). No LOCK from any of them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, propfindBody, responsesOf, startClientGateway, statusLine, type ClientGateway } from '../helpers/clients.js';

const GVFS = { 'user-agent': 'gvfs/1.50.3', 'accept-encoding': 'gzip, deflate' };
const KIO = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) KIO/5.103 kioclient5/5.27.10',
  pragma: 'no-cache', 'cache-control': 'no-cache', accept: 'text/html, text/*;q=0.9, image/jpeg;q=0.9, */*;q=0.8',
};
const KIO_PROPS = ['creationdate', 'getcontentlength', 'displayname', 'source', 'getcontentlanguage', 'getcontenttype', 'getlastmodified',
  'getetag', 'supportedlock', 'lockdiscovery', 'resourcetype', 'quota-available-bytes', 'quota-used-bytes'];

let c: ClientGateway;
beforeAll(async () => { c = await startClientGateway(); });
afterAll(async () => {
  expect(c.problems()).toEqual([]);
  await c.close();
});

describe('gvfs (dav://)', () => {
  it('two Depth 1 PROPFINDs (2 props, then 7 with Apply-To-Redirect-Ref) → 207', async () => {
    await c.req('MKCOL', '/gnome/');
    await c.req('PUT', '/gnome/r%C3%A9sum%C3%A9%20%231.txt', { body: 'hello' });
    const first = await c.req('PROPFIND', '/gnome/', { headers: { ...GVFS, depth: '1' }, body: propfindBody(['resourcetype', 'getcontentlength']) });
    expect(first.status).toBe(207);
    const second = await c.req('PROPFIND', '/gnome/', {
      headers: { ...GVFS, depth: '1', 'apply-to-redirect-ref': 'T' },
      body: propfindBody(['creationdate', 'displayname', 'getcontentlength', 'getcontenttype', 'getetag', 'getlastmodified', 'resourcetype']),
    });
    expect(second.status).toBe(207);
    const file = responsesOf(second.text).find((r) => r.includes('displayname>résumé #1.txt<'))!;
    // Nautilus wants upper-case percent escapes; '#' must be escaped.
    expect(file).toContain('<D:href>/gnome/r%C3%A9sum%C3%A9%20%231.txt</D:href>');
    expect(file).toContain('<D:getcontentlength>5</D:getcontentlength>');
  });

  it('upload: PROPFIND 404s, PUT with Content-Length + Overwrite: T → 201, again → 204; MOVE Overwrite T', async () => {
    for (let i = 0; i < 2; i++) expect((await c.req('PROPFIND', '/gnome/up.bin', { headers: { ...GVFS, depth: '0' } })).status).toBe(404);
    const body = bytesOf(70_000, 5);
    expect((await c.req('PUT', '/gnome/up.bin', { headers: { ...GVFS, overwrite: 'T' }, body })).status).toBe(201);
    expect((await c.req('PUT', '/gnome/up.bin', { headers: { ...GVFS, overwrite: 'T' }, body })).status).toBe(204);
    expect((await c.req('MOVE', '/gnome/up.bin', { headers: { ...GVFS, destination: `${c.url}/gnome/moved.bin`, overwrite: 'T' } })).status).toBe(201);
    expect((await c.req('GET', '/gnome/moved.bin', { headers: GVFS })).body.equals(body)).toBe(true);
  });

  it('folder delete: PROPFIND Depth 1, DELETE children, DELETE folder without slash', async () => {
    await c.req('MKCOL', '/gnome/trash/');
    await c.req('PUT', '/gnome/trash/x', { body: 'x' });
    expect((await c.req('PROPFIND', '/gnome/trash/', { headers: { ...GVFS, depth: '1' } })).status).toBe(207);
    expect((await c.req('DELETE', '/gnome/trash/x', { headers: GVFS })).status).toBe(204);
    expect((await c.req('DELETE', '/gnome/trash', { headers: GVFS })).status).toBe(204);
  });
});

describe('KIO (webdav://)', () => {
  it('13-prop PROPFIND: Depth 0 on a missing file → 404, listing → 207 with quota', async () => {
    expect((await c.req('PROPFIND', '/kde/missing.txt', { headers: { ...KIO, depth: '0' }, body: propfindBody(KIO_PROPS) })).status).toBe(404);
    await c.req('MKCOL', '/kde');
    const r = await c.req('PROPFIND', '/kde', { headers: { ...KIO, depth: '1' }, body: propfindBody(KIO_PROPS) });
    expect(r.status).toBe(207);
    expect(r.text).toMatch(/<D:quota-available-bytes>\d+</);
  });

  it('PUT with Content-Length → 201; rename onto an existing name with Overwrite: F → 412', async () => {
    const body = bytesOf(65_537, 6);
    expect((await c.req('PUT', '/kde/a.odt', { headers: KIO, body })).status).toBe(201);
    await c.req('PUT', '/kde/b.odt', { body: 'b' });
    const mv = await c.req('MOVE', '/kde/a.odt', { headers: { ...KIO, destination: `${c.url}/kde/b.odt`, depth: 'infinity', overwrite: 'F' } });
    expect(mv.status).toBe(412);
    expect((await c.req('MOVE', '/kde/a.odt', { headers: { ...KIO, destination: `${c.url}/kde/c.odt`, depth: 'infinity', overwrite: 'F' } })).status).toBe(201);
    expect((await c.req('GET', '/kde/c.odt')).body.equals(body)).toBe(true);
  });

  it('an unauthenticated GET → 401 with a Basic challenge, not an HTML login page', async () => {
    const r = await c.req('GET', '/kde/c.odt', { auth: null, headers: KIO });
    expect(r.status).toBe(401);
    expect(String(r.headers['www-authenticate'])).toMatch(/^Basic /);
    expect(String(r.headers['content-type'])).not.toMatch(/html/);
  });
});

describe('Cyberduck', () => {
  it('PUT with Expect: 100-continue gets the interim 100, then 201; bytes equal', async () => {
    const body = 'cyberduck upload body';
    const out = await c.raw(`PUT /duck.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Cyberduck/8.7.0 (Mac OS X/14.0) (x86_64)\r\n` +
      `Authorization: ${c.gw.authHeader()}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n${body}`, 3000);
    expect(statusLine(out)).toBe('HTTP/1.1 100 Continue');
    expect(out).toContain('HTTP/1.1 201 Created');
    expect((await c.req('GET', '/duck.txt')).text).toBe(body);
  });
});
