import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebdavPaths, encodeSegment } from '../../../src/backends/webdav-paths.js';
import { baseName, normalizePath, parentPath } from '../../../src/backends/paths.js';
import { isDavcryptError } from '../../../src/errors.js';

describe('normalizePath', () => {
  it('normalizes separators and refuses climbing', () => {
    expect(normalizePath('')).toBe('/');
    expect(normalizePath('a//b/./c/')).toBe('/a/b/c');
    expect(parentPath('/a/b')).toBe('/a');
    expect(parentPath('/a')).toBe('/');
    expect(baseName('/a/b c')).toBe('b c');
    let caught: unknown;
    try { normalizePath('/a/../../etc'); } catch (err) { caught = err; }
    expect(isDavcryptError(caught, 'DC_ERR_FORBIDDEN')).toBe(true);
  });
});

describe('WebdavPaths', () => {
  const nc = new WebdavPaths('https://user:secret@cloud.example:8443/remote.php/dav/files/al%20ice/?x=1#frag');

  it('strips credentials, query and fragment from the base URL', () => {
    expect(nc.baseUrl).toBe('https://cloud.example:8443/remote.php/dav/files/al%20ice/');
  });

  it('encodes every reserved character of a segment', () => {
    expect(encodeSegment("a b#c?d%e+f&g'h\"i")).toBe('a%20b%23c%3Fd%25e%2Bf%26g%27h%22i');
    expect(nc.urlFor('/')).toBe(nc.baseUrl);
    expect(nc.urlFor('/dir x/caf\u00e9')).toBe('https://cloud.example:8443/remote.php/dav/files/al%20ice/dir%20x/caf%C3%A9');
    expect(nc.urlFor('/d', true)).toMatch(/\/d\/$/);
  });

  it('maps absolute-path, absolute-URL and relative hrefs back, with or without trailing slash', () => {
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/')).toBe('/');
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice')).toBe('/');
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/a%23b%3fc/')).toBe('/a#b?c');
    expect(nc.pathFromHref('https://cloud.example:8443/remote.php/dav/files/al%20ice/x%2By')).toBe('/x+y');
    expect(nc.pathFromHref('x%20y/z')).toBe('/x y/z');
    // Servers differ in what they escape (Apache: lowercase hex; some leave spaces or unicode raw).
    expect(nc.pathFromHref('/remote.php/dav/files/al ice/caf\u00e9 x')).toBe('/caf\u00e9 x');
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/caf%c3%a9')).toBe('/caf\u00e9');
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/nai%CC%88ve')).toBe('/nai\u0308ve');
  });

  it('rejects hrefs outside the share or with encoded separators and dot segments', () => {
    expect(nc.pathFromHref('/remote.php/dav/files/bob/x')).toBeUndefined();
    expect(nc.pathFromHref('/remote.php/dav/')).toBeUndefined();
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/a%2Fb')).toBeUndefined();
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/%2E%2E/x')).toBeUndefined();
  });

  it('keeps a malformed escape instead of failing', () => {
    expect(nc.pathFromHref('/remote.php/dav/files/al%20ice/100%')).toBe('/100%');
  });

  it('round-trips any path through urlFor and pathFromHref', () => {
    const segment = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' })
      .filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..');
    fc.assert(fc.property(fc.array(segment, { minLength: 0, maxLength: 4 }), (segments) => {
      const path = '/' + segments.join('/');
      for (const base of ['http://h/', 'http://h/dav/', 'http://h/remote.php/dav/files/a%20b/']) {
        const p = new WebdavPaths(base);
        const url = p.urlFor(path);
        expect(p.pathFromHref(url)).toBe(path);
        expect(p.pathFromHref(new URL(url).pathname)).toBe(path);
      }
    }), { numRuns: process.env.SLOW ? 5000 : 300 });
  });

  it('maps a plain href (the quick way) exactly as the general way does', () => {
    // A leading space always takes the general way (trim, split, decode): the oracle for the quick one.
    const href = fc.array(fc.constantFrom('a', 'b', '.', '..', '/', '//', '%20', '%2F', '%', ' ', '\0', 'é', '\u00a0'), { maxLength: 8 }).map((parts) => parts.join(''));
    fc.assert(fc.property(fc.constantFrom('http://h/', 'http://h/dav/', 'http://h/a%20b/'), href, (base, rest) => {
      const p = new WebdavPaths(base);
      const full = new URL(base).pathname + rest;
      expect(p.pathFromHref(full)).toBe(p.pathFromHref(' ' + full));
    }), { numRuns: process.env.SLOW ? 20000 : 2000 });
    expect(new WebdavPaths('http://h/dav/').pathFromHref('/dav/d/file-1.bin')).toBe('/d/file-1.bin');
    expect(new WebdavPaths('http://h/dav/').pathFromHref('/dav/d/')).toBe('/d');
    expect(new WebdavPaths('http://h/dav/').pathFromHref('/dav/')).toBe('/');
  });
});
