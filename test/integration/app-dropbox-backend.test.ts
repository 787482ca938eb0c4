// The composed gateway with encrypted per-user homes on Dropbox (the Dropbox API test
// server on 127.0.0.1): bodies arrive on "Dropbox" encrypted, in each user's folder,
// large ones through upload sessions; ranges, listings, MKCOL, MOVE/COPY work through
// WebDAV; a case-only MOVE is a rename (not "replace the target"), and a second spelling
// of an existing name is refused with 409.
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropboxAuthorizationUrl, exchangeDropboxCode, pkcePair, writeDropboxTokenFile } from '../../src/backends/dropbox-auth.js';
import { startDropboxServer, type DropboxTestServer } from '../helpers/dropbox-server.js';
import { patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

describe('gateway over a Dropbox backend', () => {
  let dbx: DropboxTestServer;
  let gw: TestGateway;
  let tmp: TempDir;

  beforeAll(async () => {
    dbx = await startDropboxServer({ pageSize: 4 });
    tmp = await makeTempDir('dropbox-gw');
    const { verifier, challenge } = pkcePair();
    const code = dbx.approve(dropboxAuthorizationUrl(dbx.appKey, challenge));
    const { refreshToken } = await exchangeDropboxCode({ appKey: dbx.appKey, code, verifier, apiBase: dbx.url });
    const tokenFile = join(tmp.path, 'dropbox-token');
    await writeDropboxTokenFile(tokenFile, refreshToken);
    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      mounts: [{
        path: '/', encrypt: true,
        backend: { type: 'dropbox', root: '/davcrypt/{user}', app: { key: dbx.appKey }, token: `file:${tokenFile}`, apiBase: dbx.url, contentBase: dbx.url },
      }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await dbx?.close();
    await tmp?.cleanup();
  });

  const send = async (user: string, method: string, path: string, opts: { body?: Buffer | string; headers?: Record<string, string> } = {}) => {
    const res = await request(new URL(path, gw.url), {
      method: method as 'GET', body: opts.body, headers: { authorization: gw.authHeader(user), ...opts.headers },
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body };
  };

  it('stores each user\'s bodies encrypted in her own Dropbox folder, small and large', async () => {
    const small = Buffer.from('hello dropbox\n');
    const large = patternBytes(9 * 1024 * 1024 + 333);
    for (const user of ['alice', 'bob']) {
      expect((await send(user, 'PUT', '/small.txt', { body: small })).status).toBe(201);
    }
    expect((await send('alice', 'PUT', '/large.bin', { body: large })).status).toBe(201);
    expect(dbx.stats.routes['upload_session/finish']).toBeGreaterThanOrEqual(1);
    for (const user of ['alice', 'bob']) {
      const raw = dbx.fileAt(`/davcrypt/${user}/small.txt`)!;
      expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
      expect(raw.includes(small)).toBe(false);
    }
    expect((await send('alice', 'GET', '/small.txt')).body.equals(small)).toBe(true);
    const got = await send('alice', 'GET', '/large.bin');
    expect(got.status).toBe(200);
    expect(got.body.equals(large)).toBe(true);
    const part = await send('alice', 'GET', '/large.bin', { headers: { range: 'bytes=5000000-5000099' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(large.subarray(5_000_000, 5_000_100))).toBe(true);
    expect((await send('bob', 'GET', '/large.bin')).status).toBe(404);
    // The keyring escrow copy lives beside the files, as on any backend.
    expect(dbx.fileAt('/davcrypt/alice/.davcrypt/keyring.json')).toBeDefined();
  });

  it('lists, makes folders, copies and moves through WebDAV', async () => {
    expect((await send('alice', 'MKCOL', '/docs')).status).toBe(201);
    expect((await send('alice', 'MKCOL', '/nope/deeper')).status).toBe(409);
    expect((await send('alice', 'PUT', '/docs/a.txt', { body: 'A' })).status).toBe(201);
    expect((await send('alice', 'COPY', '/docs/a.txt', { headers: { destination: new URL('/docs/b.txt', gw.url).href } })).status).toBe(201);
    expect((await send('alice', 'MOVE', '/docs/b.txt', { headers: { destination: new URL('/docs/c.txt', gw.url).href } })).status).toBe(201);
    const listing = await send('alice', 'PROPFIND', '/docs/', { headers: { depth: '1' } });
    expect(listing.status).toBe(207);
    const text = listing.body.toString();
    expect(text).toContain('/docs/a.txt');
    expect(text).toContain('/docs/c.txt');
    expect(text).not.toContain('/docs/b.txt');
    expect((await send('alice', 'GET', '/docs/c.txt')).body.toString()).toBe('A');
  });

  it('a case-only MOVE renames (keeps the body); a second spelling is refused with 409', async () => {
    expect((await send('alice', 'PUT', '/Notes.txt', { body: 'my notes' })).status).toBe(201);
    const mv = await send('alice', 'MOVE', '/Notes.txt', { headers: { destination: new URL('/NOTES.txt', gw.url).href } });
    expect(mv.status).toBe(201);
    expect((await send('alice', 'GET', '/NOTES.txt')).body.toString()).toBe('my notes');
    const listing = (await send('alice', 'PROPFIND', '/', { headers: { depth: '1' } })).body.toString();
    expect(listing).toContain('/NOTES.txt');
    expect(listing).not.toContain('/Notes.txt');
    const put = await send('alice', 'PUT', '/notes.TXT', { body: 'other' });
    expect(put.status).toBe(409);
    expect((await send('alice', 'GET', '/NOTES.txt')).body.toString()).toBe('my notes');
    const cp = await send('alice', 'COPY', '/NOTES.txt', { headers: { destination: new URL('/notes.txt', gw.url).href } });
    expect(cp.status).toBe(403);
  });
});
