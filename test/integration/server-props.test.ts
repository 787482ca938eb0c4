// PROPFIND and PROPPATCH: fields, depth rules, href encoding, unknown props,
// dead props (multiple set/remove blocks, namespaces), protected props (403/424),
// Win32 props and mtimes, one backend list per Depth 1, mount points in listings.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
const calls: string[] = [];

function counting(b: Backend): Backend {
  return new Proxy(b, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v === 'function' && ['stat', 'list', 'read'].includes(String(prop))) {
        return (...args: unknown[]) => { calls.push(String(prop)); return (v as (...a: unknown[]) => unknown).apply(target, args); };
      }
      return v;
    },
  });
}

beforeAll(async () => { h = await startHarness({ shared: true, wrapBackend: counting, quota: 'auto' }); });
afterAll(async () => { await h.close(); });

const PROPS4 = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/></D:prop></D:propfind>';

function responses(xml: string): string[] {
  return xml.split('<D:response>').slice(1);
}

describe('PROPFIND', () => {
  it('describes a file with all live props (empty body = allprop)', async () => {
    await writeFile(`${h.root}/a.txt`, 'hello');
    const r = await dav(h, 'PROPFIND', '/a.txt', { headers: { depth: '0' } });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:href>/a.txt</D:href>');
    expect(r.text).toContain('<D:getcontentlength>5</D:getcontentlength>');
    expect(r.text).toContain('<D:getcontenttype>text/plain</D:getcontenttype>');
    expect(r.text).toMatch(/<D:getlastmodified>\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT<\/D:getlastmodified>/);
    expect(r.text).toMatch(/<D:creationdate>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ<\/D:creationdate>/);
    expect(r.text).toMatch(/<D:getetag>&quot;.+&quot;<\/D:getetag>/);
    expect(r.text).toContain('<D:resourcetype/>');
    expect(r.text).toContain('<D:supportedlock>');
    expect(r.text).toContain('<D:lockdiscovery/>');
  });

  it('answers collections with and without slash (no redirect), hrefs end in /', async () => {
    await mkdir(`${h.root}/dir`, { recursive: true });
    for (const p of ['/dir', '/dir/']) {
      const r = await dav(h, 'PROPFIND', p, { headers: { depth: '0' }, body: PROPS4 });
      expect(r.status).toBe(207);
      expect(r.text).toContain('<D:href>/dir/</D:href>');
      expect(r.text).toContain('<D:collection/>');
    }
  });

  it('percent-encodes every href segment', async () => {
    const names = ['sp ace.txt', 'hash#.txt', 'q?.txt', 'ünï.txt', 'pct%.txt'];
    await mkdir(`${h.root}/enc`, { recursive: true });
    for (const n of names) await writeFile(`${h.root}/enc/${n}`, 'x');
    const r = await dav(h, 'PROPFIND', '/enc/', { headers: { depth: '1' }, body: PROPS4 });
    for (const expected of ['/enc/sp%20ace.txt', '/enc/hash%23.txt', '/enc/q%3F.txt', '/enc/%C3%BCn%C3%AF.txt', '/enc/pct%25.txt']) {
      expect(r.text).toContain(`<D:href>${expected}</D:href>`);
    }
    const get = await dav(h, 'GET', '/enc/hash%23.txt');
    expect(get.status).toBe(200);
  });

  it('one stat and one list per Depth 1 listing, whatever the number of children', async () => {
    await mkdir(`${h.root}/many`, { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(`${h.root}/many/f${i}`, 'x');
    calls.length = 0;
    const r = await dav(h, 'PROPFIND', '/many', { headers: { depth: '1' }, body: PROPS4 });
    expect(responses(r.text)).toHaveLength(51);
    expect(calls.filter((c) => c === 'list')).toHaveLength(1);
    expect(calls.filter((c) => c === 'stat')).toHaveLength(1);
    expect(calls.filter((c) => c === 'read')).toHaveLength(0);
  });

  it('unknown props → 404 propstat; missing resource → 404; Depth infinity → 403', async () => {
    const body = '<D:propfind xmlns:D="DAV:" xmlns:A="http://www.apple.com/webdav_fs/props/"><D:prop><A:appledoubleheader/><D:getcontentlength/></D:prop></D:propfind>';
    const r = await dav(h, 'PROPFIND', '/a.txt', { headers: { depth: '0' }, body });
    expect(r.text).toMatch(/<D:propstat><D:prop><X:appledoubleheader xmlns:X="http:\/\/www.apple.com\/webdav_fs\/props\/"\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found/);
    for (const p of ['/._.', '/.DS_Store', '/mach_kernel']) expect((await dav(h, 'PROPFIND', p, { headers: { depth: '0' } })).status).toBe(404);
    const inf = await dav(h, 'PROPFIND', '/', { headers: { depth: 'infinity' } });
    expect(inf.status).toBe(403);
    expect(inf.text).toContain('propfind-finite-depth');
  });

  it('quota props on request; hidden from macOS >= 15.4 in auto mode', async () => {
    const body = '<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>';
    const r = await dav(h, 'PROPFIND', '/', { headers: { depth: '0' }, body });
    expect(r.text).toMatch(/<D:quota-available-bytes>\d+<\/D:quota-available-bytes>/);
    const mac = await dav(h, 'PROPFIND', '/', { headers: { depth: '0', 'user-agent': 'WebDAVFS/3.0.0 (03008000) Darwin/24.4.0 (arm64)' }, body });
    expect(mac.text).not.toMatch(/<D:quota-available-bytes>\d/);
    expect(mac.text).toContain('404 Not Found');
    const old = await dav(h, 'PROPFIND', '/', { headers: { depth: '0', 'user-agent': 'WebDAVFS/3.0.1 (03018000) Darwin/13.1.0 (x86_64)' }, body });
    expect(old.text).toMatch(/<D:quota-available-bytes>\d+/);
  });

  it('lists another mount below the root as a collection', async () => {
    await writeFile(`${h.sharedRoot}/team.txt`, 'team');
    const r = await dav(h, 'PROPFIND', '/', { headers: { depth: '1' }, body: PROPS4 });
    expect(r.text).toContain('<D:href>/shared/</D:href>');
    const shared = await dav(h, 'PROPFIND', '/shared', { headers: { depth: '1' }, body: PROPS4 });
    expect(shared.text).toContain('<D:href>/shared/team.txt</D:href>');
    expect((await dav(h, 'GET', '/shared/team.txt')).text).toBe('team');
  });
});

describe('PROPPATCH', () => {
  it('applies several set/remove blocks in order, keeps namespaces, and shows dead props', async () => {
    await writeFile(`${h.root}/p.txt`, 'x');
    const body = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns">
      <D:set><D:prop><Z:color>red</Z:color><Z:shape>round</Z:shape></D:prop></D:set>
      <D:remove><D:prop><Z:shape/></D:prop></D:remove>
      <D:set><D:prop><Z:deep><Z:inner xmlns:Q="urn:q"><Q:x>1</Q:x></Z:inner></Z:deep></D:prop></D:set>
    </D:propertyupdate>`;
    const r = await dav(h, 'PROPPATCH', '/p.txt', { body });
    expect(r.status).toBe(207);
    expect(r.text).toContain('HTTP/1.1 200 OK');
    const get = await dav(h, 'PROPFIND', '/p.txt', { headers: { depth: '0' },
      body: '<D:propfind xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:prop><Z:color/><Z:shape/><Z:deep/></D:prop></D:propfind>' });
    expect(get.text).toMatch(/<Z:color xmlns:Z="http:\/\/example.com\/ns">red<\/Z:color>/);
    expect(get.text).toMatch(/xmlns:Q="urn:q"/);
    expect(get.text).toMatch(/404 Not Found/);
    expect(get.text.split('404 Not Found')[0]).toContain('shape');
    const all = await dav(h, 'PROPFIND', '/p.txt', { headers: { depth: '0' } });
    expect(all.text).toContain('>red</Z:color>');
  });

  it('protected live props → 403 and the rest 424, nothing applied', async () => {
    const body = `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><D:getetag>"x"</D:getetag><Z:size>big</Z:size></D:prop></D:set></D:propertyupdate>`;
    const r = await dav(h, 'PROPPATCH', '/p.txt', { body });
    expect(r.status).toBe(207);
    expect(r.text).toMatch(/<D:getetag\/><\/D:prop><D:status>HTTP\/1.1 403 Forbidden/);
    expect(r.text).toMatch(/<X:size xmlns:X="http:\/\/example.com\/ns"\/><\/D:prop><D:status>HTTP\/1.1 424 Failed Dependency/);
    const all = await dav(h, 'PROPFIND', '/p.txt', { headers: { depth: '0' } });
    expect(all.text).not.toContain('big');
  });

  it('Windows Win32* props → 207 with four 200s under a declared prefix; mtime applied', async () => {
    await writeFile(`${h.root}/b.docx`, 'doc');
    const body = `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>
      <Z:Win32CreationTime>Mon, 01 Jan 2024 10:00:00 GMT</Z:Win32CreationTime>
      <Z:Win32LastAccessTime>Mon, 01 Jan 2024 10:00:00 GMT</Z:Win32LastAccessTime>
      <Z:Win32LastModifiedTime>Mon, 01 Jan 2024 10:00:00 GMT</Z:Win32LastModifiedTime>
      <Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>`;
    const r = await dav(h, 'PROPPATCH', '/b.docx', { body, headers: { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' } });
    expect(r.status).toBe(207);
    expect(r.text).not.toContain('<urn:');
    expect(r.text.match(/xmlns:X="urn:schemas-microsoft-com:"/g)).toHaveLength(4);
    expect(r.text).toContain('HTTP/1.1 200 OK');
    expect(r.text).not.toContain('403');
    expect((await stat(`${h.root}/b.docx`)).mtime.toISOString()).toBe('2024-01-01T10:00:00.000Z');
    const pf = await dav(h, 'PROPFIND', '/b.docx', { headers: { depth: '0' }, body: PROPS4 });
    expect(pf.text).toContain('<D:getlastmodified>Mon, 01 Jan 2024 10:00:00 GMT</D:getlastmodified>');
  });

  it('dead props follow MOVE and COPY and go with DELETE', async () => {
    await writeFile(`${h.root}/m.txt`, 'x');
    const set = `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><Z:tag>kept</Z:tag></D:prop></D:set></D:propertyupdate>`;
    expect((await dav(h, 'PROPPATCH', '/m.txt', { body: set })).status).toBe(207);
    expect((await dav(h, 'MOVE', '/m.txt', { headers: { destination: '/m2.txt' } })).status).toBe(201);
    expect((await dav(h, 'COPY', '/m2.txt', { headers: { destination: `${h.url}/m3.txt` } })).status).toBe(201);
    for (const p of ['/m2.txt', '/m3.txt']) expect((await dav(h, 'PROPFIND', p, { headers: { depth: '0' } })).text).toContain('>kept<');
    expect((await dav(h, 'DELETE', '/m3.txt')).status).toBe(204);
    await writeFile(`${h.root}/m3.txt`, 'new');
    expect((await dav(h, 'PROPFIND', '/m3.txt', { headers: { depth: '0' } })).text).not.toContain('kept');
  });
});
