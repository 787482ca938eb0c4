// MKCOL, DELETE, COPY and MOVE through the gateway: RFC 4918 status codes,
// Overwrite/Depth handling, Destination forms, cross-mount and other-host refusals.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'webdav';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
beforeAll(async () => { h = await startHarness({ shared: true }); });
afterAll(async () => { await h.close(); });

describe('MKCOL and DELETE', () => {
  it('MKCOL with and without slash, existing → 405, missing parent → 409, body → 415', async () => {
    expect((await dav(h, 'MKCOL', '/c1')).status).toBe(201);
    expect((await dav(h, 'MKCOL', '/c2/')).status).toBe(201);
    expect((await dav(h, 'MKCOL', '/c1')).status).toBe(405);
    expect((await dav(h, 'MKCOL', '/none/c3')).status).toBe(409);
    expect((await dav(h, 'MKCOL', '/c4', { body: '<x/>', headers: { 'content-type': 'text/xml' } })).status).toBe(415);
  });

  it('DELETE file and tree; Depth other than infinity on a folder → 400; missing → 404', async () => {
    await mkdir(`${h.root}/t/a/b`, { recursive: true });
    await writeFile(`${h.root}/t/a/b/f`, 'x');
    expect((await dav(h, 'DELETE', '/t', { headers: { depth: '0' } })).status).toBe(400);
    expect((await dav(h, 'DELETE', '/t/')).status).toBe(204);
    expect((await dav(h, 'DELETE', '/t')).status).toBe(404);
    expect((await dav(h, 'DELETE', '/')).status).toBe(403);
  });
});

describe('COPY and MOVE', () => {
  it('copy/move files: 201 new, 204 replaced, 412 with Overwrite F, 409 missing parent, 403 same', async () => {
    await writeFile(`${h.root}/src.txt`, 'source');
    expect((await dav(h, 'COPY', '/src.txt', { headers: { destination: '/copy.txt' } })).status).toBe(201);
    expect((await dav(h, 'COPY', '/src.txt', { headers: { destination: `${h.url}/copy.txt` } })).status).toBe(204);
    expect((await dav(h, 'COPY', '/src.txt', { headers: { destination: '/copy.txt', overwrite: 'F' } })).status).toBe(412);
    expect((await dav(h, 'MOVE', '/src.txt', { headers: { destination: '/copy.txt', overwrite: 'F', depth: 'infinity' } })).status).toBe(412);
    expect((await dav(h, 'COPY', '/src.txt', { headers: { destination: '/no/dir/x.txt' } })).status).toBe(409);
    expect((await dav(h, 'MOVE', '/src.txt', { headers: { destination: '/src.txt' } })).status).toBe(403);
    expect((await dav(h, 'MOVE', '/nothing', { headers: { destination: '/x' } })).status).toBe(404);
    expect((await dav(h, 'MOVE', '/src.txt', { headers: { destination: '/moved%20file.txt' } })).status).toBe(201);
    expect(await readFile(`${h.root}/moved file.txt`, 'utf8')).toBe('source');
    expect((await dav(h, 'COPY', '/src.txt', {})).status).toBe(400);
  });

  it('collections: deep copy, shallow copy (Depth 0), overwrite replaces rather than merges', async () => {
    await mkdir(`${h.root}/tree/sub`, { recursive: true });
    await writeFile(`${h.root}/tree/sub/f.txt`, 'f');
    expect((await dav(h, 'COPY', '/tree/', { headers: { destination: '/tree2/' } })).status).toBe(201);
    expect(await readFile(`${h.root}/tree2/sub/f.txt`, 'utf8')).toBe('f');
    expect((await dav(h, 'COPY', '/tree', { headers: { destination: '/shallow', depth: '0' } })).status).toBe(201);
    expect(await readdir(`${h.root}/shallow`)).toEqual([]);
    await writeFile(`${h.root}/shallow/only-here.txt`, 'x');
    expect((await dav(h, 'MOVE', '/tree2', { headers: { destination: '/shallow' } })).status).toBe(204);
    expect((await readdir(`${h.root}/shallow`)).sort()).toEqual(['sub']);
    expect((await dav(h, 'MOVE', '/tree', { headers: { destination: '/tree/sub/inside' } })).status).toBe(403);
    expect((await dav(h, 'COPY', '/tree', { headers: { destination: '/x', depth: '1' } })).status).toBe(400);
  });

  it('cross-mount → 502, another host → 502, onto a mount point → 403', async () => {
    await writeFile(`${h.root}/cross.txt`, 'x');
    expect((await dav(h, 'COPY', '/cross.txt', { headers: { destination: '/shared/cross.txt' } })).status).toBe(502);
    expect((await dav(h, 'MOVE', '/cross.txt', { headers: { destination: 'http://other.example/cross.txt' } })).status).toBe(502);
    expect((await dav(h, 'MOVE', '/cross.txt', { headers: { destination: '/shared' } })).status).toBe(502);
    expect((await dav(h, 'MOVE', '/shared', { headers: { destination: '/elsewhere' } })).status).toBe(403);
  });

  it('works through the webdav client (moveFile/copyFile/deleteFile/createDirectory)', async () => {
    const c = createClient(h.url, { username: h.user, password: h.password });
    await c.createDirectory('/wc');
    await c.putFileContents('/wc/a.txt', 'client');
    await c.copyFile('/wc/a.txt', '/wc/b.txt');
    await c.moveFile('/wc/b.txt', '/wc/c.txt');
    const list = (await c.getDirectoryContents('/wc')) as Array<{ basename: string }>;
    expect(list.map((e) => e.basename).sort()).toEqual(['a.txt', 'c.txt']);
    await c.deleteFile('/wc');
    expect(await c.exists('/wc')).toBe(false);
  });
});
