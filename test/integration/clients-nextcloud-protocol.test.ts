// The ownCloud/Nextcloud client protocol over real HTTP against the encrypted gateway (Node only):
// status.php, OCS capabilities/user (JSON and XML, v1 and v2), the /remote.php aliases (hrefs keep
// the prefix, another user's files are refused), oc: props, OC-ETag/OC-FileId, folder ETags that
// move after a deep change, and chunked upload (offset and index names, gaps refused).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const OC_PROPS = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>' +
  '<d:getetag/><d:resourcetype/><d:getcontentlength/><oc:id/><oc:fileid/><oc:permissions/><oc:size/><oc:checksums/></d:prop></d:propfind>';

describe('Nextcloud/ownCloud client protocol', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, store: 'memory' });
  });
  afterAll(async () => gw?.close());

  const call = async (method: string, path: string, opts: { user?: string; body?: string | Buffer; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.user !== '') headers.authorization = gw.authHeader(opts.user ?? 'alice');
    const r = await request(new URL(path, gw.url), { method: method as 'GET', headers, body: opts.body });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  };

  it('status.php answers without a login, as Nextcloud or ownCloud 10 by user agent', async () => {
    const nc = await call('GET', '/status.php', { user: '', headers: { 'user-agent': 'Mozilla/5.0 (Linux) mirall/3.7.3 (Nextcloud, debian)' } });
    expect(nc.status).toBe(200);
    expect(JSON.parse(nc.text)).toMatchObject({ installed: true, maintenance: false, needsDbUpgrade: false, version: '28.0.0.0' });
    const oc = await call('GET', '/status.php', { user: '', headers: { 'user-agent': 'Mozilla/5.0 (Linux) mirall/2.11.0 (ownCloud, debian)' } });
    expect(JSON.parse(oc.text).version).toBe('10.13.0.0');
  });

  it('OCS capabilities and user in JSON and XML, v1 and v2; wrong password is a 401 challenge', async () => {
    const caps = await call('GET', '/ocs/v1.php/cloud/capabilities?format=json', { headers: { 'ocs-apirequest': 'true' } });
    const json = JSON.parse(caps.text);
    expect(json.ocs.meta.statuscode).toBe(100);
    expect(json.ocs.data.capabilities.dav.chunking).toBe('1.0');
    const v2 = JSON.parse((await call('GET', '/ocs/v2.php/cloud/user?format=json', { user: 'bob' })).text);
    expect(v2.ocs.meta.statuscode).toBe(200);
    expect(v2.ocs.data.id).toBe('bob');
    const xml = await call('GET', '/ocs/v1.php/cloud/user');
    expect(xml.headers['content-type']).toMatch(/xml/);
    expect(xml.text).toContain('<meta><status>ok</status><statuscode>100</statuscode>');
    expect(xml.text).toContain('<id>alice</id>');
    const bad = await request(new URL('/ocs/v2.php/cloud/user?format=json', gw.url), {
      headers: { authorization: 'Basic ' + Buffer.from('alice:wrong').toString('base64') },
    });
    await bad.body.dump();
    expect(bad.statusCode).toBe(401);
    expect(String(bad.headers['www-authenticate'])).toMatch(/^Basic /);
    expect((await call('GET', '/ocs/v2.php/apps/notifications/api/v2/notifications')).status).toBe(404);
  });

  it('login flow v2: browser form grants the app its credentials once; wrong passwords get the form again', async () => {
    const start = await call('POST', '/index.php/login/v2', { user: '' });
    expect(start.status).toBe(200);
    const flow = JSON.parse(start.text) as { poll: { token: string; endpoint: string }; login: string };
    expect(flow.login).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/index\.php\/login\/v2\/flow\/[0-9a-f]{64}$/);
    const poll = () => call('POST', new URL(flow.poll.endpoint).pathname, { user: '', body: `token=${flow.poll.token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await poll()).status).toBe(404);
    const loginPath = new URL(flow.login).pathname;
    const formPage = await call('GET', loginPath, { user: '' });
    expect(formPage.status).toBe(200);
    expect(formPage.text).toContain('<form method="post">');
    const submit = (user: string, password: string) => call('POST', loginPath, {
      user: '', body: new URLSearchParams({ user, password }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect((await submit('alice', 'wrong')).status).toBe(401);
    expect((await poll()).status).toBe(404);
    expect((await submit('alice', 'alice-pw')).status).toBe(200);
    const granted = await poll();
    expect(granted.status).toBe(200);
    const creds = JSON.parse(granted.text) as { server: string; loginName: string; appPassword: string };
    expect(creds.loginName).toBe('alice');
    expect(creds.server).toBe(new URL(gw.url).origin);
    expect((await poll()).status).toBe(404); // handed out once
    expect((await submit('alice', 'alice-pw')).status).toBe(404); // the flow is spent
    const dav = await request(new URL('/remote.php/dav/files/alice/', gw.url), {
      method: 'PROPFIND', headers: { depth: '0', authorization: 'Basic ' + Buffer.from(`${creds.loginName}:${creds.appPassword}`).toString('base64') },
    });
    await dav.body.dump();
    expect(dav.statusCode).toBe(207);
  });

  it('both aliases show the user\'s own files with prefixed hrefs; another user\'s URL is refused', async () => {
    const put = await call('PUT', '/remote.php/dav/files/alice/Report ü.txt', { body: 'hello alice', headers: { 'x-oc-mtime': '1600000000' } });
    expect(put.status).toBe(201);
    expect(put.headers['oc-etag']).toBe(put.headers.etag);
    expect(String(put.headers['oc-fileid'])).toMatch(/^\d{8,}davcrypt$/);
    expect((await call('GET', '/Report%20%C3%BC.txt')).text).toBe('hello alice');
    expect((await call('GET', '/remote.php/webdav/Report%20%C3%BC.txt')).text).toBe('hello alice');
    const list = await call('PROPFIND', '/remote.php/dav/files/alice/', { body: OC_PROPS, headers: { depth: '1' } });
    expect(list.status).toBe(207);
    expect(list.text).toContain('<D:href>/remote.php/dav/files/alice/</D:href>');
    expect(list.text).toContain('<D:href>/remote.php/dav/files/alice/Report%20%C3%BC.txt</D:href>');
    expect(list.text).toContain(`>${String(put.headers['oc-fileid'])}</X:id>`);
    expect(list.text).toMatch(/<X:permissions [^>]*>DNVW<\/X:permissions>/);
    expect(list.text).toMatch(/<X:size [^>]*>11<\/X:size>/);
    expect(list.text).not.toContain('.davcrypt');
    const webdav = await call('PROPFIND', '/remote.php/webdav', { body: OC_PROPS, headers: { depth: '1' } });
    expect(webdav.text).toContain('<D:href>/remote.php/webdav/Report%20%C3%BC.txt</D:href>');
    for (const method of ['PROPFIND', 'GET', 'PUT', 'DELETE', 'MKCOL']) {
      const r = await call(method, '/remote.php/dav/files/bob/Report%20%C3%BC.txt', { body: method === 'PUT' ? 'x' : undefined });
      expect(r.status, method).toBe(403);
    }
    expect((await call('PROPFIND', '/remote.php/dav/files/bob/', { user: 'bob', headers: { depth: '1' } })).text).not.toContain('Report');
    expect((await call('PROPFIND', '/remote.php/dav/uploads/bob/', { headers: { depth: '1' } })).status).toBe(403);
    expect((await call('PROPFIND', '/remote.php/elsewhere/', { headers: { depth: '1' } })).status).toBe(404);
  });

  it('a mount point in the alias view has an ETag, id, permissions and a date (sync clients refuse it otherwise)', async () => {
    const g = await startTestGateway({
      users: { carol: 'carol-pw' }, store: 'memory',
      mounts: [{ path: '/', backend: { type: 'local', root: 'storage/{user}' } }, { path: '/team', users: ['*'], backend: { type: 'local', root: 'team' } }],
    });
    try {
      const body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>' +
        '<d:getetag/><d:getlastmodified/><oc:id/><oc:permissions/></d:prop></d:propfind>';
      const r = await request(new URL('/remote.php/dav/files/carol/', g.url), { method: 'PROPFIND', headers: { depth: '1', authorization: g.authHeader('carol') }, body });
      const text = await r.body.text();
      const team = text.slice(text.indexOf('<D:href>/remote.php/dav/files/carol/team/</D:href>'));
      expect(team.length).toBeGreaterThan(0);
      const entry = team.slice(0, team.indexOf('</D:response>'));
      expect(entry).toMatch(/<D:getetag>[^<]+<\/D:getetag>/);
      expect(entry).toMatch(/<D:getlastmodified>[^<]+GMT<\/D:getlastmodified>/);
      expect(entry).toMatch(/<X:permissions [^>]*>CK<\/X:permissions>/);
      expect(entry).not.toContain('404 Not Found');
    } finally {
      await g.close();
    }
  });

  it('MOVE with an alias Destination renames; folder ETags change after a change deep below', async () => {
    await call('MKCOL', '/remote.php/dav/files/alice/top');
    await call('MKCOL', '/remote.php/dav/files/alice/top/mid');
    const etag = async () => /<D:getetag>([^<]*)<\/D:getetag>/.exec((await call('PROPFIND', '/remote.php/dav/files/alice/top', { body: OC_PROPS, headers: { depth: '0' } })).text)?.[1];
    const before = await etag();
    expect(before).toBeTruthy();
    expect(await etag()).toBe(before);
    expect((await call('PUT', '/remote.php/dav/files/alice/top/mid/deep.txt', { body: 'deep' })).status).toBe(201);
    const after = await etag();
    expect(after).not.toBe(before);
    const mv = await call('MOVE', '/remote.php/dav/files/alice/top/mid/deep.txt', {
      headers: { destination: new URL('/remote.php/dav/files/alice/top/moved.txt', gw.url).href },
    });
    expect(mv.status).toBe(201);
    expect((await call('GET', '/top/moved.txt')).text).toBe('deep');
    expect(await etag()).not.toBe(after);
    const intoBob = await call('MOVE', '/remote.php/dav/files/alice/top/moved.txt', {
      headers: { destination: new URL('/remote.php/dav/files/bob/stolen.txt', gw.url).href },
    });
    expect(intoBob.status).toBeGreaterThanOrEqual(400);
    expect((await call('GET', '/remote.php/dav/files/bob/stolen.txt', { user: 'bob' })).status).toBe(404);
  });

  it('the uploads area refuses odd names, methods and destinations', async () => {
    expect((await call('MKCOL', '/remote.php/dav/uploads/alice/bad%20id')).status).toBe(400);
    expect((await call('MKCOL', '/remote.php/dav/uploads/alice/.hidden')).status).toBe(400);
    expect((await call('MKCOL', '/remote.php/dav/uploads/alice/2001')).status).toBe(201);
    expect((await call('PUT', '/remote.php/dav/uploads/alice/2001/keyring.json', { body: 'x' })).status).toBe(400);
    expect((await call('GET', '/remote.php/dav/uploads/alice/2001')).status).toBe(405);
    expect((await call('PUT', '/remote.php/dav/uploads/alice/2001/0', { body: 'x' })).status).toBe(201);
    const intoUploads = await call('MOVE', '/remote.php/dav/uploads/alice/2001/.file', {
      headers: { destination: new URL('/remote.php/dav/uploads/alice/2002/x', gw.url).href },
    });
    expect(intoUploads.status).toBe(403);
    const plainPath = await call('MOVE', '/remote.php/dav/uploads/alice/2001/.file', { headers: { destination: new URL('/x.bin', gw.url).href } });
    expect(plainPath.status).toBe(403);
    expect((await call('DELETE', '/remote.php/dav/uploads/alice/2001')).status).toBe(204);
  });

  it('chunked upload: offsets or indices, assembled encrypted; a gap or a wrong total is refused', async () => {
    const upload = async (id: string, names: string[], parts: Buffer[], dest: string, total?: number) => {
      expect((await call('MKCOL', `/remote.php/dav/uploads/alice/${id}`)).status).toBe(201);
      for (let i = 0; i < names.length; i++) {
        expect((await call('PUT', `/remote.php/dav/uploads/alice/${id}/${names[i]}`, { body: parts[i] })).status).toBe(201);
      }
      const listing = await call('PROPFIND', `/remote.php/dav/uploads/alice/${id}`, { headers: { depth: '1' } });
      expect(listing.status).toBe(207);
      for (const n of names) expect(listing.text).toContain(`/remote.php/dav/uploads/alice/${id}/${n}</D:href>`);
      return call('MOVE', `/remote.php/dav/uploads/alice/${id}/.file`, {
        headers: { destination: new URL(dest, gw.url).href, 'oc-total-length': String(total ?? parts.reduce((n, p) => n + p.length, 0)), 'x-oc-mtime': '1600000000' },
      });
    };
    const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(70_000, 2), Buffer.from('tail')];
    const byOffset = await upload('1001', ['0000000000000000', '0000000000070000', '0000000000140000'], parts, '/remote.php/dav/files/alice/chunked.bin');
    expect(byOffset.status).toBe(201);
    expect(byOffset.headers['oc-etag']).toBeTruthy();
    expect(String(byOffset.headers['oc-fileid'])).toMatch(/davcrypt$/);
    const got = await request(new URL('/chunked.bin', gw.url), { headers: { authorization: gw.authHeader() } });
    expect(Buffer.from(await got.body.arrayBuffer()).equals(Buffer.concat(parts))).toBe(true);
    const byIndex = await upload('1002', ['0000000000000000', '0000000000000001', '0000000000000002'], parts, '/remote.php/webdav/chunked.bin');
    expect(byIndex.status).toBe(204);
    const ranges = await upload('rclone-chunked-upload-0a1b', ['000000000000000-000000000069999', '000000000070000-000000000139999', '000000000140000-000000000140003'], parts, '/remote.php/dav/files/alice/ranged.bin');
    expect(ranges.status).toBe(201);
    expect((await call('GET', '/ranged.bin')).text.length).toBe(140_004);
    const gap = await upload('1003', ['0000000000000000', '0000000000000002'], [parts[0]!, parts[2]!], '/remote.php/dav/files/alice/gap.bin');
    expect(gap.status).toBe(409);
    const wrongTotal = await upload('1004', ['1'], [parts[2]!], '/remote.php/dav/files/alice/short.bin', 99);
    expect(wrongTotal.status).toBe(400);
    expect((await call('GET', '/gap.bin')).status).toBe(404);
    const lockBody = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
    const lock = await call('LOCK', '/chunked.bin', { body: lockBody, headers: { depth: '0', timeout: 'Second-60' } });
    expect(lock.status).toBe(200);
    const locked = await upload('1005', ['0'], [parts[2]!], '/remote.php/dav/files/alice/chunked.bin');
    expect(locked.status).toBe(423);
    await call('UNLOCK', '/chunked.bin', { headers: { 'lock-token': String(lock.headers['lock-token']) } });
    expect((await call('DELETE', '/remote.php/dav/uploads/alice/1005')).status).toBe(204);
    expect((await call('DELETE', '/remote.php/dav/uploads/alice/1003')).status).toBe(204);
    expect((await call('DELETE', '/remote.php/dav/uploads/alice/1004')).status).toBe(204);
    // Chunks and the result are ciphertext on the backend; finished uploads leave nothing behind.
    const raw = await readFile(join(gw.storageRoot, 'alice', 'chunked.bin'));
    expect(raw.includes(Buffer.alloc(1000, 1))).toBe(false);
    expect(await readdir(join(gw.storageRoot, 'alice', '.davcrypt', 'uploads'))).toEqual([]);
  });
});
