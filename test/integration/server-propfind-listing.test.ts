// PROPFIND Depth 1 over Backend.listEach (the streamed listing): a backend that names the folder
// last still gets the folder's response first, a file has no children, a missing path is 404,
// `.davcrypt` stays hidden, dead props and sizes come through, and the answer equals the one the
// listWithSelf path gives for the same folder.
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, EntryInfo, OpOptions } from '../../src/backends/types.js';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

/** Adds a listEach that hands the children over first and the folder itself last. */
function selfLast(b: Backend): Backend {
  const listEach = async (path: string, onEntry: (e: EntryInfo, self: boolean) => void, opts?: OpOptions) => {
    const self = await b.stat(path, opts);
    if (self.type === 'directory') for (const child of await b.list(path, opts)) onEntry(child, false);
    onEntry(self, true);
  };
  return new Proxy(b, { get: (target, prop, receiver) => (prop === 'listEach' ? listEach : Reflect.get(target, prop, receiver)) });
}

function hrefs(xml: string): string[] {
  return [...xml.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]!);
}

describe('PROPFIND Depth 1 over a streamed listing', () => {
  let streamed: Harness;
  let plain: Harness;
  beforeAll(async () => {
    streamed = await startHarness({ encrypted: true, wrapBackend: selfLast });
    plain = await startHarness({ encrypted: true });
    for (const h of [streamed, plain]) {
      await dav(h, 'MKCOL', '/box');
      await dav(h, 'PUT', '/box/a%20b.txt', { body: 'hello' });
      await dav(h, 'PUT', '/box/z.bin', { body: Buffer.alloc(70_000, 1) });
      await dav(h, 'MKCOL', '/box/sub');
      await dav(h, 'PROPPATCH', '/box/z.bin', {
        body: '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x"><D:set><D:prop><X:color>blue</X:color></D:prop></D:set></D:propertyupdate>',
      });
      await mkdir(join(h.root, 'box', '.davcrypt'), { recursive: true });
      await writeFile(join(h.root, 'box', '.davcrypt', 'keyring.json'), '{}');
    }
  });
  afterAll(async () => {
    await streamed?.close();
    await plain?.close();
  });

  it('puts the folder first even when the backend names it last, with the same entries as listWithSelf', async () => {
    const r = await dav(streamed, 'PROPFIND', '/box', { headers: { depth: '1' } });
    expect(r.status).toBe(207);
    const got = hrefs(r.text);
    expect(got[0]).toBe('/box/');
    expect(got.slice(1).sort()).toEqual(['/box/a%20b.txt', '/box/sub/', '/box/z.bin']);
    expect(r.text).toContain('<D:getcontentlength>70000</D:getcontentlength>');
    expect(r.text).toContain('<D:getcontentlength>5</D:getcontentlength>');
    expect(r.text).toMatch(/<X:color xmlns:X="urn:x">blue<\/X:color>/);
    expect(r.text).not.toContain('.davcrypt');
    const p = await dav(plain, 'PROPFIND', '/box', { headers: { depth: '1' } });
    expect(hrefs(p.text).sort()).toEqual(got.slice().sort());
    expect(Number(r.headers['content-length'])).toBe(r.body.length);
  });

  it('a file answers for itself only; a missing path is 404', async () => {
    const f = await dav(streamed, 'PROPFIND', '/box/z.bin', { headers: { depth: '1' } });
    expect(f.status).toBe(207);
    expect(hrefs(f.text)).toEqual(['/box/z.bin']);
    expect((await dav(streamed, 'PROPFIND', '/box/nothing', { headers: { depth: '1' } })).status).toBe(404);
  });
});
