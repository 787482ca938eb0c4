// The multistatus scanner against saxes (the general parser it replaces on the common path):
// same responses, same properties, same failures, for what real servers send and for what a
// hostile backend could send instead (random documents, then random damage, in random chunks).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMultistatusParser, type DavResponse } from '../../../src/backends/webdav-xml.js';
import { SCANNER_MAX_PENDING } from '../../../src/backends/webdav-xml-scan.js';

interface Outcome {
  responses: DavResponse[];
  error?: boolean;
  general?: boolean;
}

/** Streams `chunks` into a parser; the responses it handed over, and whether it failed. */
function run(chunks: string[], general: boolean): Outcome {
  const responses: DavResponse[] = [];
  const p = createMultistatusParser((r) => responses.push(r), { general });
  try {
    for (const c of chunks) p.write(c);
    p.end();
    return { responses, general: p.general };
  } catch {
    return { responses, error: true, general: p.general };
  }
}

function same(chunks: string[]): Outcome {
  const fast = run(chunks, false);
  const saxes = run(chunks, true);
  expect({ responses: fast.responses, error: fast.error }).toEqual({ responses: saxes.responses, error: saxes.error });
  return fast;
}

const APACHE = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:g0="DAV:">
<D:href>/dav/d%20x/</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype><D:collection/></lp1:resourcetype>
<lp1:creationdate>2026-12-04T10:00:00Z</lp1:creationdate>
<lp1:getlastmodified>Fri, 04 Dec 2026 10:00:00 GMT</lp1:getlastmodified>
<lp1:getetag>"1000-5f0a"</lp1:getetag>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
<D:propstat>
<D:prop>
<g0:getcontentlength/>
<g0:getcontenttype/>
</D:prop>
<D:status>HTTP/1.1 404 Not Found</D:status>
</D:propstat>
</D:response>
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/d%20x/a&amp;b.txt</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype/>
<lp1:getcontentlength>1101</lp1:getcontentlength>
<lp1:getlastmodified xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" b:dt="dateTime.rfc1123">Fri, 04 Dec 2026 10:00:01 GMT</lp1:getlastmodified>
<lp1:getetag>"44d-5f0b"</lp1:getetag>
<D:getcontenttype>text/plain</D:getcontenttype>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
</D:multistatus>
`;

const NEXTCLOUD = `<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:response><d:href>/remote.php/dav/files/u/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><d:getetag>&quot;6750a1&quot;</d:getetag><d:getlastmodified>Fri, 04 Dec 2026 10:00:00 GMT</d:getlastmodified></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat><d:propstat><d:prop><d:getcontentlength/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response><d:response><d:href>/remote.php/dav/files/u/x%C3%A9.bin</d:href><d:propstat><d:prop><d:resourcetype/><d:getcontentlength>70</d:getcontentlength><d:getetag>&quot;e1&quot;</d:getetag><d:getcontenttype><![CDATA[application/octet-stream]]></d:getcontenttype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;

/** IIS style: default namespace, CRLF line ends, character references, a comment. */
const IIS = '<?xml version="1.0" encoding="utf-8" ?>\r\n<multistatus xmlns="DAV:">\r\n<!-- generated -->\r\n' +
  '<response><href>http://h/dav/f&#x20;1.txt</href><propstat><prop><getcontentlength>5</getcontentlength>' +
  '<resourcetype/><getetag>"1d&#233;"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>\r\n' +
  '<response><href>/dav/gone</href><status>HTTP/1.1 404 Not Found</status></response>\r\n</multistatus>\r\n';

function chunked(text: string, sizes: number[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; at < text.length; i++) {
    const n = Math.max(1, sizes.length === 0 ? text.length : sizes[i % sizes.length]!);
    out.push(text.slice(at, at + n));
    at += n;
  }
  return out;
}

describe('multistatus scanner', () => {
  it('reads Apache, Nextcloud and IIS answers itself, as saxes does, in any chunking', () => {
    for (const doc of [APACHE, NEXTCLOUD, IIS]) {
      for (const sizes of [[], [1], [7], [64], [3, 100, 11]]) {
        const out = same(chunked(doc, sizes));
        expect(out.error).toBeUndefined();
        expect(out.general).toBe(false);
      }
    }
    const [dir, file] = run([APACHE], false).responses;
    expect(dir).toMatchObject({ href: '/dav/d%20x/', collection: true, etag: '"1000-5f0a"' });
    expect(dir!.contentLength).toBeUndefined();
    expect(file).toMatchObject({ href: '/dav/d%20x/a&b.txt', collection: false, contentLength: 1101, contentType: 'text/plain' });
    const nc = run([NEXTCLOUD], false).responses;
    expect(nc[0]!.etag).toBe('"6750a1"');
    expect(nc[1]!.contentType).toBe('application/octet-stream');
    const iis = run([IIS], false).responses;
    expect(iis[0]).toMatchObject({ href: 'http://h/dav/f 1.txt', etag: '"1dé"', contentLength: 5 });
    expect(iis[1]).toMatchObject({ href: '/dav/gone', status: 404 });
  });

  it('reads a repeated tag by the bindings in force where it repeats (its remembered meaning is not reused elsewhere)', () => {
    // The same characters '<p:getetag>' mean DAV:getetag in the first response and urn:x's getetag in the second.
    const response = (ns: string, etag: string) => `<D:response xmlns:p="${ns}"><D:href>/${etag}</D:href><D:propstat><D:prop>` +
      `<p:getetag>${etag}</p:getetag><p:getcontentlength>7</p:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
    const doc = `<D:multistatus xmlns:D="DAV:">${response('DAV:', 'a')}${response('urn:x', 'b')}${response('DAV:', 'c')}</D:multistatus>`;
    for (const sizes of [[], [5], [13]]) {
      const out = same(chunked(doc, sizes));
      expect(out.general).toBe(false);
      expect(out.responses.map((r) => [r.etag, r.contentLength])).toEqual([['a', 7], [undefined, undefined], ['c', 7]]);
    }
  });

  it('hands unusual documents to saxes from the last finished response, without repeating one', () => {
    const dtd = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e "x">]><D:multistatus xmlns:D="DAV:"><D:response><D:href>/&e;</D:href></D:response></D:multistatus>';
    expect(same([dtd]).general).toBe(true);
    // Non-ASCII element names and an entity in an attribute: saxes reads the rest.
    const middle = APACHE.replace('<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">\n<D:href>/dav/d%20x/a',
      '<D:response xmlns:lp1="DAV:" xmlns:é="urn:&amp;"><é:x/>\n<D:href>/dav/d%20x/a');
    const out = same(chunked(middle, [50]));
    expect(out.general).toBe(true);
    expect(out.responses.map((r) => r.href)).toEqual(['/dav/d%20x/', '/dav/d%20x/a&b.txt']);
    // Malformed after a good response: the good one once, then saxes' error.
    const broken = same(chunked(APACHE.replace('</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n</D:multistatus>', '</D:prop></D:response>'), [13]));
    expect(broken.error).toBe(true);
    expect(broken.responses).toHaveLength(1);
  });

  it('gives a response larger than its window to saxes (a hostile backend cannot make it rescan)', () => {
    const big = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><!--${'x'.repeat(3 * SCANNER_MAX_PENDING)}--></D:response></D:multistatus>`;
    const out = same(chunked(big, [65536]));
    expect(out.general).toBe(true);
    expect(out.responses).toHaveLength(1);
  });

  it('never attributes a property other than saxes does (random documents, damaged or not, in random chunks)', () => {
    const seen = { scanned: 0, general: 0, failed: 0 };
    fc.assert(fc.property(documentArb, damageArb, fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 5 }), (doc, damage, sizes) => {
      const out = same(chunked(damage(doc), sizes));
      if (out.error) seen.failed += 1;
      else if (out.general) seen.general += 1;
      else seen.scanned += 1;
    }), { numRuns: 3000 });
    // The property means something only if each way is taken often.
    expect(seen.scanned).toBeGreaterThan(300);
    expect(seen.general).toBeGreaterThan(100);
    expect(seen.failed).toBeGreaterThan(300);
  });
});

// ---- random multistatus documents -----------------------------------------------------------

const NAMESPACES = ['DAV:', 'DAV:', 'urn:other', 'http://apache.org/dav/props/'];
const PREFIXES = ['D', 'd', 'lp1', 'x', 'ns0', 'g', 'b'];
const space = fc.constantFrom('', ' ', '\n', '\r\n', '\t', '  \n ');
const goodText = fc.oneof(
  fc.constantFrom('/dav/a', '/dav/d%20x/', '"etag-1"', 'W/"2-x"', 'HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', '12', '0', 'text/plain',
    'Fri, 04 Dec 2026 10:00:00 GMT', '2026-12-04T10:00:00Z', ' ', '\r\n', '\r', 'é', '😀', '>', ']]', '&#13;', '&#x1F600;'),
  fc.constantFrom('&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#65;', '&#x41;', '<![CDATA[x<y&]]>', '<![CDATA[]]>', '<!-- c -->', '<!---->'),
  fc.string({ maxLength: 6 }).map((t) => t.replace(/[<&\]]/g, '.')),
);
const badText = fc.constantFrom('&#xD800;', '&#0;', '&bogus;', '&', ']]>', '<!-- a--b -->', '<!-- a --->', '<?pi x?>', '\u0001', '\uFFFF');
const text = fc.array(fc.oneof({ weight: 60, arbitrary: goodText }, { weight: 1, arbitrary: badText }), { maxLength: 4 }).map((p) => p.join(''));

interface El { prefix: string | undefined; local: string; decls: Array<[string | undefined, string]>; attrs: string[]; children: Array<El | string>; selfClose: boolean }

function render(e: El): string {
  const q = e.prefix ? `${e.prefix}:${e.local}` : e.local;
  const decls = e.decls.map(([p, ns]) => (p ? ` xmlns:${p}="${ns}"` : ` xmlns="${ns}"`)).join('');
  const attrs = e.attrs.map((a) => ` ${a}`).join('');
  if (e.selfClose && e.children.length === 0) return `<${q}${decls}${attrs}/>`;
  return `<${q}${decls}${attrs}>${e.children.map((c) => (typeof c === 'string' ? c : render(c))).join('')}</${q}>`;
}

const prefixArb = fc.option(fc.constantFrom(...PREFIXES), { nil: undefined, freq: 4 });
const declsArb = fc.array(fc.tuple(prefixArb, fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...NAMESPACES) }, { weight: 1, arbitrary: fc.constant('') })), { maxLength: 2 });
const attrsArb = fc.array(fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('b:dt="dateTime.rfc1123"', 'a="1"', "a='2'", 'xml:lang="en"', 'x:y="z>"', 'e="&gt;"', 'xmlns:b="urn:b"') },
  { weight: 1, arbitrary: fc.constantFrom('c="&amp;"', 'd="a\nb"', 'q:y="1"', 'a="1" a="2"', 'xmlns:lp1="DAV:" xmlns:lp1="DAV:"') },
), { maxLength: 1 });
const el = (local: fc.Arbitrary<string>, children: fc.Arbitrary<Array<El | string>>): fc.Arbitrary<El> =>
  fc.record({ prefix: prefixArb, local, decls: declsArb, attrs: attrsArb, children, selfClose: fc.boolean() });

const PROPS = ['resourcetype', 'getcontentlength', 'getetag', 'getlastmodified', 'creationdate', 'getcontenttype', 'quota-used-bytes', 'other'];
const property = el(fc.constantFrom(...PROPS), fc.array(fc.oneof(text, el(fc.constantFrom('collection', 'x'), fc.constant([]))), { maxLength: 2 }));
const prop = el(fc.constant('prop'), fc.array(fc.oneof(property, space), { maxLength: 5 }));
const status = el(fc.constant('status'), fc.array(text, { maxLength: 1 }));
const propstat = el(fc.constant('propstat'), fc.array(fc.oneof(prop, status, space), { maxLength: 4 }));
const href = el(fc.constant('href'), fc.array(text, { maxLength: 2 }));
const response = el(fc.constantFrom('response', 'response', 'responsedescription'), fc.array(fc.oneof(href, status, propstat, space), { maxLength: 5 }));
// Every prefix is bound on the root (DAV: mostly), so documents are well-formed unless damaged.
const rootDecls = fc.tuple(...PREFIXES.map((p) => fc.constantFrom<[string | undefined, string]>([p, 'DAV:'], [p, 'DAV:'], [p, 'DAV:'], [p, 'urn:other'])), fc.constantFrom<[string | undefined, string]>([undefined, 'DAV:'], [undefined, 'DAV:'], [undefined, 'urn:x']));
const root = fc.tuple(el(fc.constantFrom('multistatus', 'multistatus', 'multistatus', 'multistatus', 'multistatus', 'multistatus', 'html'), fc.array(fc.oneof(response, space, fc.constant('<!-- x -->')), { maxLength: 5 })), rootDecls)
  .map(([r, decls]) => ({ ...r, decls }));
const documentArb = fc.tuple(fc.constantFrom('', '', '', '<?xml version="1.0" encoding="utf-8"?>\n', '<?xml version="1.0"?>', '<?xml version="1.1"?>', '<!-- p -->', '<!DOCTYPE D:multistatus>'), root, space)
  .map(([prolog, r, tail]) => prolog + render(r) + tail);

const SNIPPETS = ['<', '>', '&', ';', '"', "'", '/', ':', '!', '-', '[', ']', '?', '=', ' ', '\u0000', '\uFFFE', '<!DOCTYPE x>', '&e;', '</D:x>', '<D:href>', 'xmlns:D="urn:x"', '\r', '\uD800'];
const damageArb: fc.Arbitrary<(doc: string) => string> = fc.oneof(
  { weight: 1, arbitrary: fc.constant((d: string) => d) },
  { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 9999 }).map((n) => n / 10000), fc.integer({ min: 0, max: 3 }), fc.constantFrom(...SNIPPETS)).map(([where, cut, ins]) => (d: string) => {
    const at = Math.floor(where * d.length);
    return d.slice(0, at) + ins + d.slice(at + cut);
  }) },
);
