// The request layer: OPTIONS without auth, Basic auth edge cases, 401/429, health,
// header hygiene, path validation, the reserved .davcrypt folder, body caps, crash safety.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dav, rawHttp, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
beforeAll(async () => { h = await startHarness({ maxXmlBodyBytes: 64 * 1024 }); });
afterAll(async () => { await h.close(); });

const basic = (u: string, p: string) => 'Basic ' + Buffer.from(`${u}:${p}`, 'utf8').toString('base64');

describe('OPTIONS and auth', () => {
  it('answers OPTIONS on / and deep paths without credentials', async () => {
    for (const path of ['/', '/no/such/thing', '/a%20b/']) {
      const r = await dav(h, 'OPTIONS', path, { auth: null });
      expect(r.status).toBe(200);
      expect(r.headers.dav).toBe('1, 2');
      expect(r.headers['ms-author-via']).toBe('DAV');
      const allow = String(r.headers.allow);
      for (const m of ['LOCK', 'UNLOCK', 'PROPPATCH', 'PROPFIND', 'PUT', 'MKCOL']) expect(allow).toContain(m);
      expect(r.headers['x-msdavext']).toBeUndefined();
    }
  });

  it('every method answers `DAV: 1, 2`, spelled alike (webdav-server\'s own `1,2` is rewritten)', async () => {
    const seen = new Map<string, unknown>();
    seen.set('MKCOL', (await dav(h, 'MKCOL', '/dav-hdr/')).headers.dav);
    seen.set('PUT', (await dav(h, 'PUT', '/dav-hdr/f.txt', { body: 'x' })).headers.dav);
    seen.set('GET', (await dav(h, 'GET', '/dav-hdr/f.txt')).headers.dav);
    seen.set('PROPFIND', (await dav(h, 'PROPFIND', '/dav-hdr/', { headers: { depth: '1' } })).headers.dav);
    const lock = await dav(h, 'LOCK', '/dav-hdr/f.txt', {
      headers: { timeout: 'Second-60' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
    });
    seen.set('LOCK', lock.headers.dav);
    seen.set('UNLOCK', (await dav(h, 'UNLOCK', '/dav-hdr/f.txt', { headers: { 'lock-token': String(lock.headers['lock-token']) } })).headers.dav);
    seen.set('DELETE', (await dav(h, 'DELETE', '/dav-hdr/')).headers.dav);
    for (const [method, value] of seen) expect(value, method).toBe('1, 2');
  });

  it('challenges missing and wrong credentials with 401 Basic (never a redirect)', async () => {
    for (const auth of [null, basic('alice', 'nope'), basic('nobody', 'x'), 'Bearer abc', 'Basic !!!']) {
      const r = await dav(h, 'PROPFIND', '/', { auth, headers: { depth: '0' } });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Basic realm="davcrypt", charset="UTF-8"');
      expect(r.headers.location).toBeUndefined();
    }
  });

  it('accepts passwords with +, /, :, space and non-ASCII, and DOMAIN\\user names', async () => {
    expect((await dav(h, 'PROPFIND', '/', { headers: { depth: '0' } })).status).toBe(207);
    expect((await dav(h, 'PROPFIND', '/', { auth: basic('CORP\\alice', h.password), headers: { depth: '0' } })).status).toBe(207);
  });

  it('answers 429 with Retry-After when the authenticator throttles', async () => {
    const r = await dav(h, 'GET', '/x', { auth: basic('mallory', 'x') });
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('30');
    expect(r.text).toContain('DC_ERR_TOO_MANY_REQUESTS');
  });

  it('serves the health endpoint without auth', async () => {
    const r = await dav(h, 'GET', '/.well-known/davcrypt/health', { auth: null });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ status: 'ok' });
  });

  it('never sends CORS or server banner headers', async () => {
    const r = await dav(h, 'PROPFIND', '/', { headers: { depth: '0', origin: 'http://evil.example' } });
    for (const name of Object.keys(r.headers)) expect(name.toLowerCase()).not.toMatch(/^access-control-|^server$/);
  });
});

describe('paths', () => {
  it('rejects traversal, encoded separators and NUL with 400', async () => {
    for (const raw of ['/a/%2e%2e/b', '/a/../b', '/%2e%2e/etc', '/a%2fb', '/a%00b', '/a%5cb', '/bad%zz']) {
      const out = await rawHttp(h, `GET ${raw} HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nConnection: close\r\n\r\n`);
      expect(out.split('\r\n')[0], raw).toBe('HTTP/1.1 400 Bad Request');
    }
  });

  it('refuses .davcrypt for every method and hides it from listings', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(`${h.root}/.davcrypt`, { recursive: true });
    await writeFile(`${h.root}/.davcrypt/keyring.json`, '{}');
    await mkdir(`${h.root}/sub/.DavCrypt`, { recursive: true });
    for (const m of ['GET', 'HEAD', 'PUT', 'PROPFIND', 'PROPPATCH', 'DELETE', 'MKCOL', 'LOCK', 'UNLOCK', 'MOVE', 'COPY', 'OPTIONS']) {
      for (const p of ['/.davcrypt', '/.davcrypt/keyring.json', '/sub/.DAVCRYPT/x', '/%2Edavcrypt/']) {
        const r = await dav(h, m, p, { headers: { destination: '/elsewhere', depth: '0' } });
        expect(r.status, `${m} ${p}`).toBe(404);
      }
    }
    await dav(h, 'PUT', '/f.txt', { body: 'x' });
    for (const dest of ['/.davcrypt/f.txt', `${h.url}/sub/.davcrypt`, '/.DAVCRYPT']) {
      for (const m of ['MOVE', 'COPY']) {
        expect((await dav(h, m, '/f.txt', { headers: { destination: dest } })).status, `${m} → ${dest}`).toBe(403);
      }
    }
    const root = await dav(h, 'PROPFIND', '/', { headers: { depth: '1' } });
    expect(root.status).toBe(207);
    expect(root.text.toLowerCase()).not.toContain('.davcrypt');
    const sub = await dav(h, 'PROPFIND', '/sub/', { headers: { depth: '1' } });
    expect(sub.text.toLowerCase()).not.toContain('.davcrypt');
  });
});

describe('bodies and robustness', () => {
  it('answers 413 to an absurd Content-Length without allocating it', async () => {
    const out = await rawHttp(h, `PROPFIND / HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.auth}\r\nDepth: 0\r\nContent-Length: 99999999999999\r\n\r\n<x/>`);
    expect(out.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('caps chunked XML bodies (413) and still parses small chunked ones', async () => {
    const { Readable } = await import('node:stream');
    const big = Readable.from((function* () { for (let i = 0; i < 100; i++) yield Buffer.alloc(1024, 32); })());
    expect((await dav(h, 'PROPFIND', '/', { headers: { depth: '0' }, body: big })).status).toBe(413);
    const small = Readable.from([Buffer.from('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>')]);
    const r = await dav(h, 'PROPFIND', '/', { headers: { depth: '0' }, body: small });
    expect(r.status).toBe(207);
    expect(r.text).toContain('<D:collection/>');
  });

  it('answers 400 to malformed XML and keeps serving', async () => {
    for (const body of ['<D:propfind xmlns:D="DAV:"><D:prop>', '<<<', '<D:propfind xmlns:D="DAV:"><x:y/></D:propfind>', '<a:propfind xmlns:a=""/>']) {
      expect((await dav(h, 'PROPFIND', '/', { headers: { depth: '0' }, body })).status).toBe(400);
      expect((await dav(h, 'PROPPATCH', '/', { body })).status).toBe(400);
      expect((await dav(h, 'LOCK', '/', { body })).status).toBe(400);
    }
    for (const ifh of ['(<tok', 'garbage', '<http://x/> nolist', '()']) {
      expect((await dav(h, 'PUT', '/if.txt', { headers: { if: ifh }, body: 'x' })).status, ifh).toBe(400);
    }
    expect((await dav(h, 'OPTIONS', '/', { auth: null })).status).toBe(200);
  });

  it('answers 405 with Allow for unsupported methods', async () => {
    const r = await dav(h, 'PATCH', '/x', { body: 'x' });
    expect(r.status).toBe(405);
    expect(String(r.headers.allow)).toContain('PROPFIND');
  });

  it('survives garbage on the wire', async () => {
    const out = await rawHttp(h, 'NOT HTTP AT ALL\r\n\r\n');
    expect(out.startsWith('HTTP/1.1 400')).toBe(true);
    expect((await dav(h, 'OPTIONS', '/', { auth: null })).status).toBe(200);
  });
});
