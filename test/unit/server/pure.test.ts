// Pure pieces of the WebDAV front: path parsing and href encoding, Basic auth
// parsing, Range and Timeout parsing, error mapping, lock overlap rules, the lock store.
import fc from 'fast-check';
import { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { davError } from '../../../src/errors.js';
import { parseBasicAuth } from '../../../src/server/basic-auth.js';
import { withHttpStatus } from '../../../src/server/error-status.js';
import { httpErrorOf } from '../../../src/server/errors-to-http.js';
import { conflictingLocks, guardingLocks, KeyvLockStore, newLockToken, type LockRecord } from '../../../src/server/lock-store.js';
import { parseRange } from '../../../src/server/methods/get-head.js';
import { parseTimeout } from '../../../src/server/methods/lock.js';
import { quotaEnabledFor } from '../../../src/server/methods/propfind.js';
import { liveValueNow, type Resource } from '../../../src/server/live-props.js';
import { encodeHref, parseDestination, parseRequestPath } from '../../../src/server/request-paths.js';
import { sharedMountId } from '../../../src/keys/mount-id.js';

/** The state id of a test mount named `name`. */
const sid = (name: string) => sharedMountId('/' + name);

const code = (fn: () => unknown) => { try { fn(); return 'ok'; } catch (e) { return (e as { code: string }).code; } };

describe('request paths', () => {
  it('decodes and normalizes', () => {
    expect(parseRequestPath('/a%20b//c/?q=1')).toEqual({ path: '/a b/c', trailingSlash: true });
    expect(parseRequestPath('/')).toEqual({ path: '/', trailingSlash: false });
    expect(parseRequestPath('/u%CC%88')).toEqual({ path: '/u\u0308', trailingSlash: false });
  });
  it('rejects traversal, separators, NUL, fragments; hides .davcrypt', () => {
    for (const p of ['/a/../b', '/%2e%2e/x', '/a/%2E', '/a%2Fb', '/a%00', '/%E0%A4%A', '/a#frag', 'relative']) expect(code(() => parseRequestPath(p)), p).toBe('DC_ERR_BAD_REQUEST');
    for (const p of ['/.davcrypt', '/x/.DAVCRYPT/y', '/%2edavcrypt']) expect(code(() => parseRequestPath(p)), p).toBe('DC_ERR_NOT_FOUND');
  });
  it('encodes hrefs per segment with upper-case hex', () => {
    expect(encodeHref('/a b/#?/ü', false)).toBe('/a%20b/%23%3F/%C3%BC');
    expect(encodeHref('/dir', true)).toBe('/dir/');
    expect(encodeHref('/', true)).toBe('/');
    expect(encodeHref("/it's(1)", false)).toBe('/it%27s%281%29');
  });
  it('encodes plain names (no escape needed) exactly as the per-segment encoder does', () => {
    const perSegment = (path: string) => (path === '/' ? '/' : path.split('/').map((x) => encodeURIComponent(x).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/'));
    const chars = fc.constantFrom(...'aZ09._~-/ !\'()*%#?ü+&='.split(''));
    fc.assert(fc.property(fc.array(chars, { maxLength: 12 }).map((c) => '/' + c.join('')), fc.boolean(), (path, collection) => {
      const expected = perSegment(path);
      expect(encodeHref(path, collection)).toBe(collection && !expected.endsWith('/') ? expected + '/' : expected);
    }), { numRuns: 2000 });
  });
  it('parses Destination forms', () => {
    expect(parseDestination('http://h:1/a%20b', 'h:1').path).toBe('/a b');
    expect(parseDestination('/x/y/', 'h').path).toBe('/x/y');
    expect(code(() => parseDestination('http://other/x', 'h:1'))).toBe('DC_ERR_BACKEND');
    expect(httpErrorOf((() => { try { parseDestination('http://other/x', 'h'); } catch (e) { return e; } })()).status).toBe(502);
    expect(code(() => parseDestination('/.davcrypt/k', 'h'))).toBe('DC_ERR_FORBIDDEN');
    expect(code(() => parseDestination('x', 'h'))).toBe('DC_ERR_BAD_REQUEST');
  });
});

describe('live date props', () => {
  it('formats each entry\'s own dates, whatever order a listing names them in (the formatted dates are remembered)', () => {
    const none = () => '/';
    const at = (ms: number): Resource => ({ urlPath: '/f', collection: false, locks: [], info: { name: 'f', path: '/f', type: 'file', size: 1, lastModified: new Date(ms) } });
    fc.assert(fc.property(fc.array(fc.integer({ min: -5_000, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 600 }), (list) => {
      for (const ms of list) {
        const s = Math.max(0, ms);
        expect(liveValueNow(at(ms), 'getlastmodified', none)).toBe(new Date(s).toUTCString());
        expect(liveValueNow(at(ms), 'creationdate', none)).toBe(new Date(s).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      }
    }), { numRuns: 50 });
  });
});

describe('Basic auth', () => {
  const b = (s: string, enc: BufferEncoding = 'utf8') => 'Basic ' + Buffer.from(s, enc).toString('base64');
  it('keeps +, /, : in passwords and strips DOMAIN\\', () => {
    expect(parseBasicAuth(b('alice:a+b/c:d'))).toEqual({ username: 'alice', password: 'a+b/c:d' });
    expect(parseBasicAuth(b('CORP\\alice:pw'))).toEqual({ username: 'alice', password: 'pw' });
    expect(parseBasicAuth(b('jörg:pässword'))).toEqual({ username: 'jörg', password: 'pässword' });
    expect(parseBasicAuth(b('jörg:pässword', 'latin1'))).toEqual({ username: 'jörg', password: 'pässword' });
    expect(parseBasicAuth(b('alice:'))).toEqual({ username: 'alice', password: '' });
  });
  it('returns undefined for other schemes and garbage', () => {
    for (const h of [undefined, '', 'Bearer x', 'Basic', 'Basic !!!', b('nocolon')]) expect(parseBasicAuth(h)).toBeUndefined();
  });
});

describe('Range and Timeout', () => {
  it('parses single ranges against a size', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-5', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,3-4', 100)).toBeUndefined();
    expect(parseRange('bytes=9-1', 100)).toBeUndefined();
    expect(parseRange('lines=1-2', 100)).toBeUndefined();
  });
  it('parses Timeout with a cap', () => {
    expect(parseTimeout('Second-600')).toBe(600);
    expect(parseTimeout('Infinite')).toBe(3600);
    expect(parseTimeout('Second-99999999')).toBe(3600);
    expect(parseTimeout('Bogus, Second-30')).toBe(30);
    expect(parseTimeout(undefined)).toBe(3600);
  });
  it('hides quota from macOS >= 15.4 only in auto mode', () => {
    expect(quotaEnabledFor('auto', 'WebDAVFS/3.0.0 (03008000) Darwin/24.4.0 (arm64)')).toBe(false);
    expect(quotaEnabledFor('auto', 'WebDAVFS/3.0.0 (03008000) Darwin/24.3.0 (arm64)')).toBe(true);
    expect(quotaEnabledFor('auto', 'rclone/v1.60')).toBe(true);
    expect(quotaEnabledFor('off', undefined)).toBe(false);
  });
});

describe('error mapping', () => {
  it('uses the code\'s status (or the error\'s override) and hides internal messages', () => {
    expect(httpErrorOf(davError('DC_ERR_TAMPERED', 'segment 3')).status).toBe(502);
    expect(httpErrorOf(davError('DC_ERR_TAMPERED', 'segment 3')).body).toBe('DC_ERR_TAMPERED: segment 3\n');
    expect(httpErrorOf(new Error('secret /etc/x')).body).toBe('DC_ERR_INTERNAL: internal error\n');
    expect(httpErrorOf(withHttpStatus(davError('DC_ERR_EXISTS', 'x'), 412)).status).toBe(412);
    expect(httpErrorOf(davError('DC_ERR_EXISTS', 'x')).status).toBe(405);
    expect(httpErrorOf(davError('DC_ERR_TOO_MANY_REQUESTS', 'x')).headers['Retry-After']).toBe('60');
    expect(httpErrorOf(davError('DC_ERR_RANGE_NOT_SATISFIABLE', 'x', { details: { size: 7 } })).headers['Content-Range']).toBe('bytes */7');
  });
});

describe('locks', () => {
  const rec = (path: string, scope: LockRecord['scope'], depth: LockRecord['depth'], expiresIn = 60_000): LockRecord => ({
    token: newLockToken(), path, scope, depth, principal: 'u', timeoutSeconds: 60, expiresAt: Date.now() + expiresIn,
  });
  it('computes conflicts and guards', () => {
    const coll = rec('/a', 'exclusive', 'infinity');
    expect(conflictingLocks([coll], { path: '/a/b', depth: '0', scope: 'shared' })).toHaveLength(1);
    expect(conflictingLocks([rec('/a', 'exclusive', '0')], { path: '/a/b', depth: '0', scope: 'exclusive' })).toHaveLength(0);
    expect(conflictingLocks([rec('/a/b', 'shared', '0')], { path: '/a', depth: 'infinity', scope: 'shared' })).toHaveLength(0);
    expect(conflictingLocks([rec('/a/b', 'shared', '0')], { path: '/a', depth: 'infinity', scope: 'exclusive' })).toHaveLength(1);
    const fileLock = rec('/d/f', 'exclusive', '0');
    expect(guardingLocks([fileLock], '/d', { subtree: true })).toHaveLength(1);
    expect(guardingLocks([fileLock], '/d', {})).toHaveLength(0);
    expect(guardingLocks([rec('/d', 'exclusive', '0')], '/d/new', { membership: true })).toHaveLength(1);
  });
  it('acquires atomically under concurrency, refreshes, releases, expires', async () => {
    const store = new KeyvLockStore(new Keyv());
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.acquire(sid('m'), rec('/x', 'exclusive', '0'))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const [held] = await store.list(sid('m'));
    expect((await store.refresh(sid('m'), held!.token, 5))?.timeoutSeconds).toBe(5);
    expect(await store.release(sid('m'), 'opaquelocktoken:nope')).toBe(false);
    expect(await store.release(sid('m'), held!.token)).toBe(true);
    await store.acquire(sid('m'), rec('/y', 'exclusive', '0', -1));
    expect(await store.list(sid('m'))).toEqual([]);
    await store.acquire(sid('m'), rec('/z/a', 'shared', '0'));
    await store.removeUnder(sid('m'), '/z');
    expect(await store.list(sid('m'))).toEqual([]);
  });
});
