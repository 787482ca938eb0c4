import { describe, expect, it } from 'vitest';
import { parseMultistatus, parseStatusLine } from '../../../src/backends/webdav-xml.js';

describe('parseMultistatus', () => {
  it('reads Apache-style answers with per-response namespace prefixes', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/dir%20x/</D:href>
<D:propstat><D:prop><lp1:resourcetype><D:collection/></lp1:resourcetype>
<lp1:getlastmodified>Fri, 27 Nov 2026 03:03:42 GMT</lp1:getlastmodified>
<lp1:getetag>W/"1000-661394ec1e12d"</lp1:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
<D:response xmlns:lp1="DAV:">
<D:href>/dav/dir%20x/h%23.txt</D:href>
<D:propstat><D:prop><lp1:resourcetype/><lp1:getcontentlength>3</lp1:getcontentlength>
<lp1:creationdate>2026-11-27T03:03:42Z</lp1:creationdate><lp1:getetag>"3-abc"</lp1:getetag>
<D:getcontenttype>text/plain</D:getcontenttype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
<D:propstat><D:prop><D:quota-used-bytes/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
</D:response>
</D:multistatus>`;
    const [dir, file] = parseMultistatus(xml);
    expect(dir).toMatchObject({ href: '/dav/dir%20x/', collection: true, etag: 'W/"1000-661394ec1e12d"' });
    expect(dir!.lastModified?.toISOString()).toBe('2026-11-27T03:03:42.000Z');
    expect(file).toMatchObject({ href: '/dav/dir%20x/h%23.txt', collection: false, contentLength: 3, etag: '"3-abc"', contentType: 'text/plain' });
    expect(file!.creationDate?.toISOString()).toBe('2026-11-27T03:03:42.000Z');
    expect(file!.quotaUsedBytes).toBeUndefined();
  });

  it('reads a default-namespace answer and ignores look-alike elements in other namespaces', () => {
    const xml = `<multistatus xmlns="DAV:" xmlns:x="urn:other"><response><href>/a</href>
<propstat><prop><resourcetype><x:collection/></resourcetype><getcontentlength>12</getcontentlength>
<x:getetag>"fake"</x:getetag><quota-available-bytes>1000</quota-available-bytes></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/gone</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`;
    const [a, gone] = parseMultistatus(xml);
    expect(a).toMatchObject({ collection: false, contentLength: 12, quotaAvailableBytes: 1000 });
    expect(a!.etag).toBeUndefined();
    expect(gone).toMatchObject({ href: '/gone', status: 404 });
  });

  it('throws on malformed XML and on documents that are not a DAV:multistatus', () => {
    expect(() => parseMultistatus('<D:multistatus xmlns:D="DAV:"><D:response>')).toThrow();
    expect(() => parseMultistatus('<multistatus xmlns="urn:not-dav"/>')).toThrow(/DAV:multistatus/);
    expect(() => parseMultistatus('<html><body>login</body></html>')).toThrow();
  });

  it('parses status lines', () => {
    expect(parseStatusLine('HTTP/1.1 207 Multi-Status')).toBe(207);
    expect(parseStatusLine('HTTP/2 404')).toBe(404);
    expect(parseStatusLine('garbage')).toBeUndefined();
  });
});
