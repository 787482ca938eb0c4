// A gateway whose home mounts live on a WebDAV backend. The backend here is a
// second davcrypt instance serving a plain (unencrypted) share, so the test needs
// only Node. davcrypt refuses `.davcrypt/` paths, so this stack keeps keyrings in
// the store only (keys.backendKeyring: false); real backends (Apache, Nextcloud)
// hold the escrow copy (see the interop suites).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('gateway over a WebDAV backend', () => {
  let backend: TestGateway;
  let front: TestGateway;

  beforeAll(async () => {
    backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    front = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      backend: { webdavUrl: backend.url, username: 'svc', password: 'svc-pw' },
      config: { keys: { backendKeyring: false } },
    });
  });
  afterAll(async () => {
    await front?.close();
    await backend?.close();
  });

  it('each user gets a {user} folder on the backend; bodies arrive encrypted', async () => {
    const body = 'over webdav '.repeat(1000);
    for (const user of ['alice', 'bob']) {
      const put = await request(new URL(`/${user}.txt`, front.url), {
        method: 'PUT',
        body,
        headers: { authorization: front.authHeader(user), 'content-length': String(body.length) },
      });
      await put.body.dump();
      expect(put.statusCode).toBeLessThan(300);
    }
    const got = await request(new URL('/alice.txt', front.url), { headers: { authorization: front.authHeader('alice') } });
    expect(got.statusCode).toBe(200);
    expect(await got.body.text()).toBe(body);
    const raw = await readFile(join(backend.storageRoot, 'svc', 'alice', 'alice.txt'));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect(raw.length).toBe(65 + body.length + 32);
    const bobs = await request(new URL('/alice.txt', front.url), { headers: { authorization: front.authHeader('bob') } });
    await bobs.body.dump();
    expect(bobs.statusCode).toBe(404); // bob's home is his own folder
  });
});
