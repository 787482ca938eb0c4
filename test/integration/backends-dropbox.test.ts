// The Dropbox backend against the Dropbox API test server (test/helpers/dropbox-server.ts)
// on 127.0.0.1: the backend conformance suite (with small list pages so paging is always
// exercised), then what only Dropbox has: upload sessions, content_hash, 429 + Retry-After,
// token refresh on 401, cursor resets, case-insensitive names, the faked account root.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DropboxApi } from '../../src/backends/dropbox-api.js';
import { RefreshingDropboxToken, StaticDropboxToken } from '../../src/backends/dropbox-auth.js';
import { dropboxContentHash } from '../../src/backends/dropbox-hash.js';
import { DropboxBackend, createDropboxBackend } from '../../src/backends/dropbox.js';
import { backendConformance } from '../conformance/backend.js';
import { bodyOf, expectCode, randomBody, readAll, sha256 } from '../conformance/helpers.js';
import { startDropboxServer, type DropboxTestServer } from '../helpers/dropbox-server.js';

const MiB = 1024 * 1024;

function apiOptions(dbx: DropboxTestServer) {
  return { tokens: new StaticDropboxToken(dbx.accessToken), apiBase: dbx.url, contentBase: dbx.url, minIntervalMs: 0 };
}

backendConformance('dropbox → test server', async () => {
  const dbx = await startDropboxServer({ pageSize: 3 });
  const backend = await createDropboxBackend({ root: '/davcrypt/conformance', api: apiOptions(dbx), createRoot: true });
  return { backend, exactSizes: true, cleanup: () => dbx.close() };
});

backendConformance('dropbox → test server, whole account as root', async () => {
  const dbx = await startDropboxServer();
  const backend = await createDropboxBackend({ root: '/', api: apiOptions(dbx) });
  return { backend, exactSizes: true, cleanup: () => dbx.close() };
});

describe('dropbox backend specifics (test server)', () => {
  let dbx: DropboxTestServer;
  let b: DropboxBackend;
  beforeAll(async () => {
    dbx = await startDropboxServer({ pageSize: 2 });
    b = await createDropboxBackend({ root: '/davcrypt/alice', api: apiOptions(dbx), createRoot: true, chunkBytes: 4 * MiB });
  });
  afterAll(async () => {
    await b?.close();
    await dbx?.close();
  });

  it('creates a missing per-user root (and its parents) once', async () => {
    expect((await b.stat('/')).type).toBe('directory');
    expect(dbx.stats.routes['files/create_folder_v2']).toBe(1);
  });

  it('uploads large bodies through a session in 4 MiB chunks and checks the content_hash', async () => {
    for (const [label, withSize] of [['known size', true], ['unknown size', false]] as const) {
      const data = randomBody(9 * MiB + 12345);
      const before = { ...dbx.stats.routes };
      dbx.stats.appendBytes.length = 0;
      const w = await b.write(`/big-${label}.bin`, bodyOf(data), withSize ? { size: data.length } : {});
      expect(w.size).toBe(data.length);
      expect(dbx.stats.routes['upload_session/start']! - (before['upload_session/start'] ?? 0)).toBe(1);
      expect(dbx.stats.routes['upload_session/finish']! - (before['upload_session/finish'] ?? 0)).toBe(1);
      expect(dbx.stats.appendBytes.every((n) => n === 4 * MiB)).toBe(true);
      expect(sha256(dbx.fileAt(`/davcrypt/alice/big-${label}.bin`)!)).toBe(sha256(data));
      expect(sha256(await readAll((await b.read(`/big-${label}.bin`)).body))).toBe(sha256(data));
    }
  });

  it('a body of exactly one chunk and one of unknown length ending on a chunk boundary', async () => {
    const one = randomBody(4 * MiB);
    await b.write('/one-chunk.bin', bodyOf(one), { size: one.length });
    expect(sha256(dbx.fileAt('/davcrypt/alice/one-chunk.bin')!)).toBe(sha256(one));
    const two = randomBody(8 * MiB);
    await b.write('/two-chunks.bin', bodyOf(two));
    expect(sha256(dbx.fileAt('/davcrypt/alice/two-chunks.bin')!)).toBe(sha256(two));
  });

  it('a declared size that the body does not match commits nothing', async () => {
    await expectCode(b.write('/short.bin', bodyOf(randomBody(5 * MiB)), { size: 6 * MiB }), 'DC_ERR_BAD_REQUEST');
    await expectCode(b.write('/short-small.bin', bodyOf('abc'), { size: 4 }), 'DC_ERR_BAD_REQUEST');
    await expectCode(b.stat('/short.bin'), 'DC_ERR_NOT_FOUND');
    await expectCode(b.stat('/short-small.bin'), 'DC_ERR_NOT_FOUND');
  });

  it('a download whose bytes do not match the content_hash fails instead of passing them on', async () => {
    const data = randomBody(100_000);
    await b.write('/rot.bin', bodyOf(data), { size: data.length });
    dbx.corrupt('/davcrypt/alice/rot.bin');
    const r = await b.read('/rot.bin');
    await expect(readAll(r.body)).rejects.toMatchObject({ code: 'DC_ERR_BACKEND' });
    // A range cannot be checked against a whole-file hash; it still arrives.
    expect((await readAll((await b.read('/rot.bin', { range: { start: 10, end: 19 } })).body)).equals(data.subarray(10, 20))).toBe(true);
  });

  it('the content hash follows the 4 MiB block scheme', () => {
    // Empty body: SHA-256 of no block digests at all.
    expect(dropboxContentHash(Buffer.alloc(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const data = randomBody(4 * MiB + 1);
    const blocks = [data.subarray(0, 4 * MiB), data.subarray(4 * MiB)].map((x) => createHash('sha256').update(x).digest());
    expect(dropboxContentHash(data)).toBe(createHash('sha256').update(Buffer.concat(blocks)).digest('hex'));
  });

  it('waits out 429 Retry-After and retries 5xx, within bounds', async () => {
    dbx.rateLimit(2, 1, 'too_many_write_operations');
    const t0 = Date.now();
    await b.write('/limited.txt', bodyOf('after the limit'), { size: 15 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(b.api.stats.rateLimited).toBeGreaterThanOrEqual(2);
    dbx.failNext('files/get_metadata', 503, 2);
    expect((await b.stat('/limited.txt')).size).toBe(15);
    const strict = new DropboxBackend({ root: '/davcrypt/alice', api: { ...apiOptions(dbx), maxRetries: 1 } });
    dbx.failNext('files/get_metadata', 500, 5);
    await expectCode(strict.stat('/limited.txt'), 'DC_ERR_BACKEND_UNAVAILABLE');
    dbx.failNext('files/get_metadata', 500, 0);
    // A wait longer than maxRetryAfterMs (default 300 s) is not sat out: it fails at once.
    dbx.rateLimit(1, 900);
    const t1 = Date.now();
    await expectCode(strict.stat('/limited.txt'), 'DC_ERR_BACKEND_UNAVAILABLE');
    expect(Date.now() - t1).toBeLessThan(5_000);
    await strict.close();
  });

  it('refreshes the access token before use and again after a 401', async () => {
    const pkce = (await import('../../src/backends/dropbox-auth.js'));
    const { verifier, challenge } = pkce.pkcePair();
    const code = dbx.approve(pkce.dropboxAuthorizationUrl(dbx.appKey, challenge));
    const { refreshToken } = await pkce.exchangeDropboxCode({ appKey: dbx.appKey, code, verifier, apiBase: dbx.url });
    const tokens = new RefreshingDropboxToken({ appKey: dbx.appKey, refreshToken, apiBase: dbx.url });
    const rb = new DropboxBackend({ root: '/davcrypt/alice', api: { tokens, apiBase: dbx.url, contentBase: dbx.url } });
    expect((await rb.stat('/')).type).toBe('directory');
    expect(tokens.refreshCount).toBe(1);
    dbx.expireAccessTokens();
    expect((await rb.stat('/')).type).toBe('directory');
    expect(tokens.refreshCount).toBe(2);
    const bad = new DropboxBackend({ root: '/', api: { tokens: new StaticDropboxToken('nope'), apiBase: dbx.url, contentBase: dbx.url } });
    await expectCode(bad.list('/'), 'DC_ERR_BACKEND_UNAUTHORIZED');
    const revoked = new RefreshingDropboxToken({ appKey: dbx.appKey, refreshToken: 'not-issued', apiBase: dbx.url });
    const rv = new DropboxBackend({ root: '/', api: { tokens: revoked, apiBase: dbx.url, contentBase: dbx.url } });
    await expectCode(rv.list('/'), 'DC_ERR_BACKEND_UNAUTHORIZED');
    await Promise.all([rb.close(), bad.close(), rv.close()]);
  });

  it('pages through list_folder/continue and starts over after a cursor reset', async () => {
    await b.mkdir('/many');
    for (let i = 0; i < 7; i++) await b.write(`/many/f${i}`, bodyOf(String(i)));
    expect((await b.list('/many')).map((e) => e.name).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
    // Reset the cursors while a listing is between pages: the listing restarts and stays complete.
    const api = b.api as DropboxApi & { rpc: DropboxApi['rpc'] };
    const original = api.rpc.bind(api);
    let resetOnce = true;
    api.rpc = (async (route: string, arg: unknown, signal?: AbortSignal) => {
      if (route === 'files/list_folder/continue' && resetOnce) {
        resetOnce = false;
        dbx.resetCursors();
      }
      return original(route, arg, signal);
    }) as DropboxApi['rpc'];
    try {
      expect((await b.list('/many')).map((e) => e.name).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
      expect(resetOnce).toBe(false);
    } finally {
      api.rpc = original;
    }
  });

  it('refuses names that differ only in case or Unicode form, and renames case-only via a temp name', async () => {
    await b.mkdir('/case');
    await b.write('/case/Report.txt', bodyOf('v1'));
    await expectCode(b.write('/case/report.TXT', bodyOf('other')), 'DC_ERR_NAME_CONFLICT');
    await b.mkdir('/case/Photos');
    await expectCode(b.mkdir('/case/photos'), 'DC_ERR_NAME_CONFLICT');
    await b.write('/case/caf\u00e9', bodyOf('nfc'));
    await expectCode(b.write('/case/cafe\u0301', bodyOf('nfd')), 'DC_ERR_NAME_CONFLICT');
    expect(b.capabilities.caseInsensitive).toBe(true);
    // Lookups are case-insensitive, as on Dropbox itself.
    expect((await b.stat('/case/REPORT.txt')).size).toBe(2);
    await b.move('/case/Report.txt', '/case/REPORT.txt');
    expect((await b.list('/case')).map((e) => e.name).sort()).toEqual(['Photos', 'REPORT.txt', 'caf\u00e9']);
    await b.move('/case/Photos', '/case/photos', { overwrite: true });
    expect((await b.list('/case')).map((e) => e.name).sort()).toEqual(['REPORT.txt', 'caf\u00e9', 'photos']);
    await expectCode(b.copy('/case/photos', '/case/PHOTOS'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.move('/case/photos', '/case/photos'), 'DC_ERR_FORBIDDEN');
  });

  it('an overwriting copy that fails puts the old target back and leaves no temp entry', async () => {
    const once = new DropboxBackend({ root: '/davcrypt/alice', api: { ...apiOptions(dbx), maxRetries: 0 } });
    await b.mkdir('/ow');
    await b.write('/ow/a', bodyOf('A'));
    await b.write('/ow/b', bodyOf('B'));
    dbx.failNext('files/copy_v2', 500, 1);
    await expectCode(once.copy('/ow/a', '/ow/b', { overwrite: true }), 'DC_ERR_BACKEND_UNAVAILABLE');
    expect((await readAll((await b.read('/ow/b')).body)).toString()).toBe('B');
    expect(dbx.namesIn('/davcrypt/alice/ow')).toEqual(['a', 'b']);
    expect(dbx.stats.routes['files/move_v2']).toBeGreaterThanOrEqual(2); // aside, and back
    await once.copy('/ow/a', '/ow/b', { overwrite: true });
    expect((await readAll((await b.read('/ow/b')).body)).toString()).toBe('A');
    expect(dbx.namesIn('/davcrypt/alice/ow')).toEqual(['a', 'b']);
    await once.close();
  });

  it('If-Match uses update mode: a writer in between makes the commit fail', async () => {
    const v1 = await b.write('/race.txt', bodyOf('one'));
    // Someone else writes between our check and our commit: simulate by checking with v1, writing v2 meanwhile.
    const slow = Readable.from((async function* () {
      yield Buffer.from('mine');
      await b.write('/race.txt', bodyOf('theirs'));
    })());
    await expectCode(b.write('/race.txt', slow, { ifMatch: v1.etag }), 'DC_ERR_PRECONDITION_FAILED');
    expect((await readAll((await b.read('/race.txt')).body)).toString()).toBe('theirs');
    const created = b.write('/new-race.txt', Readable.from((async function* () {
      yield Buffer.from('mine');
      await b.write('/new-race.txt', bodyOf('first'));
    })()), { ifNoneMatch: '*' });
    await expectCode(created, 'DC_ERR_PRECONDITION_FAILED');
  });

  it('names Dropbox keeps out (.DS_Store, desktop.ini) are DC_ERR_FORBIDDEN, not a backend failure', async () => {
    await expectCode(b.write('/.DS_Store', bodyOf('finder')), 'DC_ERR_FORBIDDEN');
    await expectCode(b.mkdir('/desktop.ini'), 'DC_ERR_FORBIDDEN');
  });

  it('a download that breaks midway fails the reader instead of ending early', async () => {
    const data = randomBody(12 * MiB);
    await b.write('/cut.bin', bodyOf(data), { size: data.length });
    const r = await b.read('/cut.bin');
    let got = 0;
    await expect((async () => {
      for await (const chunk of r.body) {
        got += (chunk as Buffer).length;
        if (got > MiB) dbx.dropConnections();
      }
    })()).rejects.toBeTruthy();
    expect(got).toBeLessThan(data.length);
  });

  it('read with ifMatch compares the rev of what was downloaded', async () => {
    const w = await b.write('/im.txt', bodyOf('x'));
    expect((await readAll((await b.read('/im.txt', { ifMatch: w.etag })).body)).toString()).toBe('x');
    await expectCode(b.read('/im.txt', { ifMatch: '"0000000000000"' }), 'DC_ERR_PRECONDITION_FAILED');
  });

  it('quota reports the account numbers', async () => {
    const q = await b.quota('/');
    expect(q.used).toBeGreaterThan(0);
    expect(q.available).toBeLessThan(2 * 1024 ** 3);
  });

  it('refuses a root that is a file, and a missing shared root', async () => {
    await b.write('/plain-file', bodyOf('x'));
    await expectCode(createDropboxBackend({ root: '/davcrypt/alice/plain-file', api: apiOptions(dbx) }), 'DC_ERR_CONFIG');
    await expectCode(createDropboxBackend({ root: '/davcrypt/nobody', api: apiOptions(dbx) }), 'DC_ERR_NOT_FOUND');
  });

  it('names itself without credentials', () => {
    expect(b.name).toBe('dropbox:/davcrypt/alice');
  });
});
