// Malformed and hostile requests against the composed, encrypted gateway: XML bombs
// (entity expansion, XXE with a file:// SYSTEM id, deep nesting, huge attributes,
// truncation), absurd Content-Length, bad Depth, bad Destination, traversal and NUL in
// paths, overlong headers and URLs, If headers of every shape, malformed Range, and
// Authorization garbage. Each must get a 4xx with a clear one-line body (or, where the
// RFC says so, a normal answer), and afterwards the process must still serve a normal
// request with no uncaught exception or internal error logged.
import { mkdtemp, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startClientGateway, statusLine, type ClientGateway } from '../helpers/clients.js';

let c: ClientGateway;
let secretDir: string;
let secretFile: string;
const SECRET = 'TOP-SECRET-CANARY-4f1c';

beforeAll(async () => {
  c = await startClientGateway();
  secretDir = await mkdtemp(join(tmpdir(), 'davcrypt-xxe-'));
  secretFile = join(secretDir, 'secret.txt');
  await writeFile(secretFile, SECRET);
  expect((await c.req('PUT', '/ok.txt', { body: 'still here' })).status).toBe(201);
  await c.req('MKCOL', '/dir');
});
afterAll(async () => {
  await c?.close();
  await rm(secretDir, { recursive: true, force: true });
});
// After every case: the gateway still answers a normal request, and nothing bad was logged.
afterEach(async () => {
  const r = await c.req('GET', '/ok.txt');
  expect(r.status).toBe(200);
  expect(r.text).toBe('still here');
  expect(c.problems()).toEqual([]);
});

const auth = () => c.gw.authHeader();
/** A 4xx whose body names a DC_ERR code in one line. */
function expectClear4xx(r: { status: number; text: string }, status?: number): void {
  if (status !== undefined) expect(r.status, r.text).toBe(status);
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  expect(r.text).toMatch(/^DC_ERR_[A-Z_]+: .+\n$/);
}
/** Raw-socket variant: status line and body of the answer. */
function parseRaw(out: string): { status: number; text: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
  const text = out.slice(out.indexOf('\r\n\r\n') + 4);
  return { status, text };
}
const rawReq = (method: string, target: string, headers: Record<string, string> = {}, body = '') =>
  c.raw(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
    (body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : '') + `Connection: close\r\n\r\n${body}`);

describe('hostile XML bodies', () => {
  const billionLaughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
    Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('') +
    ']><D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x">&lol9;</x></D:prop></D:propfind>';

  it('billion laughs (entity expansion) → 400 at once, nothing expanded', async () => {
    for (const method of ['PROPFIND', 'PROPPATCH', 'LOCK']) {
      const r = await c.req(method, '/ok.txt', { headers: { depth: '0' }, body: billionLaughs });
      expectClear4xx(r, 400);
      expect(r.ms).toBeLessThan(1000);
      expect(r.text).toMatch(/DTD/);
    }
  });

  it('XXE with a file:// SYSTEM id → 400; the file is never read into any answer or property', async () => {
    const xxe = (el: string) => `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file://${secretFile}">]>${el}`;
    const bodies = [
      xxe('<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">&xxe;</x></D:prop></D:set></D:propertyupdate>'),
      xxe('<D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x">&xxe;</x></D:prop></D:propfind>'),
      xxe('<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>&xxe;</D:owner></D:lockinfo>'),
      `<?xml version="1.0"?><!DOCTYPE d SYSTEM "file://${secretFile}"><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
    ];
    for (const [i, body] of bodies.entries()) {
      const method = ['PROPPATCH', 'PROPFIND', 'LOCK', 'PROPFIND'][i]!;
      const r = await c.req(method, '/ok.txt', { headers: { depth: '0' }, body });
      expectClear4xx(r, 400);
      expect(r.text).not.toContain(SECRET);
    }
    const all = await c.req('PROPFIND', '/ok.txt', { headers: { depth: '0' } });
    expect(all.text).not.toContain(SECRET);
    expect(all.text).not.toContain('lockdiscovery><D:activelock'); // the LOCK never happened
  });

  it('deeply nested elements → 400 fast (no 100k-level tree built)', async () => {
    const n = 100_000;
    const body = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">' + '<a>'.repeat(n) + '</a>'.repeat(n) + '</x></D:prop></D:set></D:propertyupdate>';
    const r = await c.req('PROPPATCH', '/ok.txt', { body });
    expectClear4xx(r, 400);
    expect(r.text).toMatch(/nested deeper/);
    expect(r.ms).toBeLessThan(1000);
    // Legitimately nested dead properties (a few levels) still work.
    const fine = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">' + '<a>'.repeat(20) + 'v' + '</a>'.repeat(20) + '</x></D:prop></D:set></D:propertyupdate>';
    expect((await c.req('PROPPATCH', '/ok.txt', { body: fine })).status).toBe(207);
  });

  it('the pre-scan keeps legitimate XML: quoted ">" in attributes, CDATA and comments holding tags, PIs', async () => {
    const body = '<?xml version="1.0" encoding="utf-8"?>\n<!-- a comment with <tags> and <!DOCTYPE words> -->\n' +
      '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:note xmlns:z="urn:z" title="a > b \'q\'">' +
      '<![CDATA[<not><a><tag>]]><?pi some > data?></z:note></D:prop></D:set></D:propertyupdate>';
    const r = await c.req('PROPPATCH', '/ok.txt', { body });
    expect(r.status, r.text).toBe(207);
    expect(r.text).toContain('HTTP/1.1 200 OK');
    const back = await c.req('PROPFIND', '/ok.txt', { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><note xmlns="urn:z"/></D:prop></D:propfind>' });
    expect(back.text).toContain('title="a &gt; b \'q\'"');
    expect(back.text).toMatch(/&lt;not&gt;&lt;a&gt;&lt;tag&gt;|<!\[CDATA\[<not><a><tag>\]\]>/);
  });

  it('a huge attribute: over the body cap → 413; under it → answered quickly', async () => {
    const over = `<D:propfind xmlns:D="DAV:" a="${'x'.repeat(2 * 1024 * 1024)}"><D:allprop/></D:propfind>`;
    expectClear4xx(await c.req('PROPFIND', '/ok.txt', { headers: { depth: '0' }, body: over }), 413);
    const under = await c.req('PROPFIND', '/ok.txt', { headers: { depth: '0' }, body: `<D:propfind xmlns:D="DAV:" a="${'x'.repeat(900_000)}"><D:allprop/></D:propfind>` });
    expect(under.status).toBe(207);
    expect(under.ms).toBeLessThan(2000);
  });

  it('truncated, non-XML, wrong-root and namespace-less bodies → 400', async () => {
    const cases: Array<[string, string]> = [
      ['PROPFIND', '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'],
      ['PROPFIND', '<?xml version="1.0"?>'],
      ['PROPFIND', 'this is not xml at all'],
      ['PROPFIND', '<propfind><allprop/></propfind>'],
      ['PROPPATCH', '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns:y=""/></D:prop>'],
      ['PROPPATCH', '<D:foo xmlns:D="DAV:"/>'],
      ['LOCK', '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope></D:lockinfo>'],
      ['LOCK', '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'],
      ['PROPFIND', '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind><extra/>'],
      ['PROPFIND', '\u0000\u0001\u0002'],
    ];
    for (const [method, body] of cases) {
      const r = await c.req(method, '/ok.txt', { headers: { depth: '0' }, body });
      expect(r.status, `${method} ${body}`).toBe(400);
      expectClear4xx(r);
    }
  });
});

describe('absurd lengths and sizes', () => {
  it('Content-Length 10^15 on PROPFIND / LOCK / PROPPATCH → 413 without reading or allocating', async () => {
    for (const method of ['PROPFIND', 'LOCK', 'PROPPATCH', 'MKCOL', 'DELETE', 'COPY']) {
      const out = await c.raw(`${method} /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\nDepth: 0\r\n` +
        `Destination: /x\r\nContent-Length: 1000000000000000\r\n\r\n<a`, 2000);
      const r = parseRaw(out);
      expect(r.status, `${method}: ${out.slice(0, 200)}`).toBe(413);
      expectClear4xx(r);
    }
  });

  it('PUT announcing 10^15 bytes then hanging up: old version kept, no partial file', async () => {
    await c.req('PUT', '/victim.txt', { body: 'intact' });
    await c.raw(`PUT /victim.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\nContent-Length: 1000000000000000\r\n\r\nabc`, 500);
    await c.raw(`PUT /ghost.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\nContent-Length: 1000000000000000\r\n\r\nabc`, 500);
    await new Promise((r) => setTimeout(r, 300));
    expect((await c.req('GET', '/victim.txt')).text).toBe('intact');
    expect((await c.req('GET', '/ghost.txt')).status).toBe(404);
    const names = await readdir(join(c.gw.storageRoot, 'alice'));
    expect(names.filter((n) => !['ok.txt', 'dir', 'victim.txt', '.davcrypt'].includes(n))).toEqual([]);
  });

  it('negative, non-numeric and conflicting Content-Length → 400', async () => {
    for (const h of ['Content-Length: -5', 'Content-Length: abc', 'Content-Length: 3\r\nContent-Length: 4', 'Content-Length: 3\r\nTransfer-Encoding: chunked']) {
      const out = await c.raw(`PUT /cl.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\n${h}\r\n\r\nabc`, 1000);
      expect(statusLine(out), h).toBe('HTTP/1.1 400 Bad Request');
      expectClear4xx(parseRaw(out));
    }
    expect((await c.req('GET', '/cl.txt')).status).toBe(404);
  });

  it('overlong header (> 16 KiB) and overlong URL → 431, the connection closed', async () => {
    const longHeader = await c.raw(`GET /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\nX-Junk: ${'j'.repeat(20_000)}\r\n\r\n`);
    expect(statusLine(longHeader)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expectClear4xx(parseRaw(longHeader));
    expect(parseRaw(longHeader).text).toMatch(/too large/);
    const longUrl = await c.raw(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\n\r\n`);
    expect(statusLine(longUrl)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const manyHeaders = await c.raw(`GET /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`);
    expect(statusLine(manyHeaders)).toMatch(/^HTTP\/1.1 4(31|00) /);
  });

  it('a 255-byte name works; a longer segment → 400, a path over 3072 bytes → 414 (never a 5xx leaking storage paths)', async () => {
    const name = 'n'.repeat(255);
    expect((await c.req('PUT', `/${name}`, { body: 'long' })).status).toBe(201);
    expect((await c.req('GET', `/${name}`)).text).toBe('long');
    for (const method of ['PUT', 'GET', 'PROPFIND', 'MKCOL']) {
      const tooLong = await c.req(method, `/${'n'.repeat(256)}`, { body: method === 'PUT' ? 'x' : undefined });
      expectClear4xx(tooLong, 400);
      expect(tooLong.text).toMatch(/longer than 255 bytes/);
      expect(tooLong.text).not.toContain(c.gw.root);
      const deep = await c.req(method, '/' + Array.from({ length: 20 }, () => 'd'.repeat(200)).join('/'));
      expectClear4xx(deep, 414);
    }
    const dest = await c.req('COPY', '/ok.txt', { headers: { destination: `/${'n'.repeat(300)}` } });
    expectClear4xx(dest, 400);
    await c.req('DELETE', `/${name}`);
  });
});

describe('backend failures reaching the client', () => {
  it('an unreadable storage entry (symlink loop) → an error body that names no storage location', async () => {
    const home = join(c.gw.storageRoot, 'alice');
    await symlink('loop', join(home, 'loop'));
    try {
      for (const method of ['GET', 'PROPFIND', 'PUT', 'DELETE']) {
        const r = await c.req(method, '/loop', { headers: { depth: '0' }, body: method === 'PUT' ? 'x' : undefined });
        expect(r.status, `${method}: ${r.text}`).toBeGreaterThanOrEqual(400);
        expect(r.text).toMatch(/^DC_ERR_[A-Z_]+: .+\n$/);
        expect(r.text).not.toContain(c.gw.root);
        expect(r.text).not.toMatch(/local:|webdav:/);
      }
    } finally {
      await unlink(join(home, 'loop'));
      c.logs.length = 0; // a 5xx for a broken storage entry is logged as a warning or error by design
    }
  });
});

describe('bad Depth values', () => {
  it('PROPFIND/COPY/MOVE/LOCK/DELETE with Depth 2, -1, foo, 1.0, empty → 400', async () => {
    for (const depth of ['2', '-1', 'foo', '1.0', '', 'infinity, 0']) {
      for (const [method, path] of [['PROPFIND', '/dir'], ['COPY', '/dir'], ['MOVE', '/dir'], ['LOCK', '/dir'], ['DELETE', '/dir']] as const) {
        const out = await rawReq(method, path, { Depth: depth, Destination: '/dir-copy' },
          method === 'LOCK' ? '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>' : '');
        const r = parseRaw(out);
        expect(r.status, `${method} Depth: "${depth}" → ${out.slice(0, 120)}`).toBe(400);
        expectClear4xx(r);
      }
    }
    expect((await c.req('PROPFIND', '/dir', { headers: { depth: '0' } })).status).toBe(207); // nothing moved or deleted
  });
});

describe('Destination headers', () => {
  it('another host → 502 (RFC 4918 §9.8.5), into .davcrypt → 403, encoded .., NUL, garbage → 400', async () => {
    const cases: Array<[string, number]> = [
      ['http://evil.example.com/stolen.txt', 502],
      [`${c.url}/.davcrypt/keyring`, 403],
      ['/.davcrypt/x', 403],
      ['/dir/.DAVCRYPT', 403],
      [`${c.url}/dir/%2e%2e/%2e%2e/etc/passwd`, 400],
      ['/dir/%2E%2E/x', 400],
      ['/dir/a%00b', 400],
      ['/dir/a%2fb', 400],
      ['relative/path', 400],
      ['http://[::1', 400],
      ['/%zz', 400],
    ];
    for (const [dest, status] of cases) {
      for (const method of ['COPY', 'MOVE']) {
        const r = await c.req(method, '/ok.txt', { headers: { destination: dest } });
        expect(r.status, `${method} → ${dest}: ${r.text}`).toBe(status);
        expect(r.text).toMatch(/^DC_ERR_[A-Z_]+: .+\n$/);
      }
    }
  });
});

describe('paths', () => {
  it('encoded and raw .., %00, encoded / and \\, bad escapes, fragments → 400; .davcrypt → 404', async () => {
    const cases: Array<[string, number]> = [
      ['/dir/%2e%2e/%2e%2e/etc/passwd', 400],
      ['/dir/%2E%2E/ok.txt', 400],
      ['/../../etc/passwd', 400],
      ['/dir/./ok.txt', 400],
      ['/ok.txt%00.jpg', 400],
      ['/a%2f..%2fb', 400],
      ['/a%5c..%5cb', 400],
      ['/%E0%A4%A', 400],
      ['/%zz', 400],
      ['/ok.txt#frag', 400],
      ['/.davcrypt/keyring.json', 404],
      ['/dir/%2Edavcrypt', 404],
      ['*', 400],
      ['http://127.0.0.1/ok.txt', 400],
    ];
    for (const [target, status] of cases) {
      for (const method of ['GET', 'PUT', 'PROPFIND', 'DELETE']) {
        const out = await rawReq(method, target, { Depth: '0' }, method === 'PUT' ? 'x' : '');
        const r = parseRaw(out);
        expect(r.status, `${method} ${target} → ${out.slice(0, 160)}`).toBe(status);
        expectClear4xx(r);
        expect(r.text).not.toContain('root:');
      }
    }
  });
});

describe('If headers of every shape', () => {
  it('malformed / unbalanced / unknown shapes → 400; well-formed but unmatched → 412', async () => {
    const malformed = ['(<a>', '(<a>))', '((<a>))', '()', '(foo)', 'Not (<a>)', '(Not)', '[etag]', '(<a>) garbage',
      '<http://x/> ', '(<a> [unterminated)', '<unterminated', ',', '(<a>) <http://h/> (<b>)', '(' + '<t>'.repeat(5000) + ''];
    for (const v of malformed) {
      const r = await c.req('PUT', '/ok.txt', { headers: { if: v }, body: 'changed' });
      expect(r.status, `If: ${v.slice(0, 40)} → ${r.text}`).toBe(400);
      expectClear4xx(r);
    }
    // A tag that is no valid URL (`<a>`) never matches: 412 like any unmatched list.
    for (const v of ['(<urn:uuid:not-a-lock>)', '(["not-the-etag"])', '<http://other.example/x> (<opaquelocktoken:x>)', '(<DAV:no-lock>)',
      '<a> (<b>)', '<http://127.0.0.1/dir/%2e%2e/ok.txt> (<DAV:no-lock>)']) {
      const r = await c.req('PUT', '/ok.txt', { headers: { if: v }, body: 'changed' });
      expect(r.status, `If: ${v}`).toBe(412);
      expectClear4xx(r);
    }
    // (Not <DAV:no-lock>) always holds: the request goes through (nothing locked).
    expect((await c.req('PUT', '/ok.txt', { headers: { if: '(Not <DAV:no-lock>)' }, body: 'still here' })).status).toBe(204);
  });

  it('If-Match / If-None-Match / dates that are garbage do not crash (412 or ignored)', async () => {
    expect((await c.req('PUT', '/ok.txt', { headers: { 'if-match': 'garbage' }, body: 'x' })).status).toBe(412);
    expect((await c.req('GET', '/ok.txt', { headers: { 'if-modified-since': 'not a date' } })).status).toBe(200);
    expect((await c.req('GET', '/ok.txt', { headers: { 'if-unmodified-since': '99999999' } })).status).toBe(200);
  });
});

describe('malformed Range headers', () => {
  it('syntactically invalid ranges are ignored (RFC 9110 §14.2: 200 whole body); unsatisfiable → 416', async () => {
    for (const range of ['bytes=abc', 'bytes=5-1', 'items=0-1', 'bytes=-', 'bytes=', 'bytes=--1', 'bytes=0-0,1-1,2-2', 'garbage', 'bytes=0-1;2-3']) {
      const r = await c.req('GET', '/ok.txt', { headers: { range } });
      expect(r.status, range).toBe(200);
      expect(r.text).toBe('still here');
    }
    for (const range of ['bytes=99999999999999999999-', 'bytes=100-200', 'bytes=-0']) {
      const r = await c.req('GET', '/ok.txt', { headers: { range } });
      expect(r.status, range).toBe(416);
      expect(r.headers['content-range']).toBe('bytes */10');
      expectClear4xx(r);
    }
    // Empty list elements are legal (RFC 9110 §5.6.1): 'bytes=0-1,' is the single range 0-1.
    const listy = await c.req('GET', '/ok.txt', { headers: { range: 'bytes=0-1,' } });
    expect([listy.status, listy.text]).toEqual([206, 'st']);
    const tail = await c.req('GET', '/ok.txt', { headers: { range: 'bytes=-99999999999999999999' } });
    expect(tail.status).toBe(206);
    expect(tail.text).toBe('still here');
  });
});

describe('Authorization garbage', () => {
  it('non-base64, no colon, empty, other schemes, huge → 401 with a Basic challenge', async () => {
    const values = [
      'Basic !!!not-base64***', 'Basic ' + Buffer.from('no-colon-here').toString('base64'), 'Basic', 'Basic ', 'Basic =',
      'Bearer abc.def.ghi', 'Digest username="alice"', 'basic', 'Basic ' + Buffer.from(':').toString('base64'),
      'Basic ' + Buffer.from('alice:' + 'p'.repeat(8000)).toString('base64'), 'Basic ' + Buffer.from([0xff, 0xfe, 0x3a, 0x00]).toString('base64'),
      'Basic ' + 'A'.repeat(12_000),
    ];
    for (const v of values) {
      const r = await c.req('GET', '/ok.txt', { auth: v });
      expect(r.status, v.slice(0, 40)).toBe(401);
      expect(String(r.headers['www-authenticate'])).toMatch(/^Basic realm=/);
      expectClear4xx(r);
    }
    const huge = await c.raw(`GET /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${'A'.repeat(40_000)}\r\n\r\n`);
    expect(statusLine(huge)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });
});
