// Per-user homes on a WebDAV backend are created on first use: the backend is a
// second davcrypt instance serving a plain share (Node only; Apache is covered in
// test/interop/keys-apache.test.ts). The folder above {user} exists, the homes do not.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('WebDAV home folders are created on first use', () => {
  let backend: TestGateway;
  let front: TestGateway;

  beforeAll(async () => {
    backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    const mk = await request(new URL('/homes/', backend.url), { method: 'MKCOL', headers: { authorization: backend.authHeader('svc') } });
    await mk.body.dump();
    expect(mk.statusCode).toBe(201);
    front = await startTestGateway({
      users: { alice: 'alice-pw', 'bob.b': 'bob-pw' },
      backend: { webdavUrl: backend.url + 'homes/{user}/files/', username: 'svc', password: 'svc-pw' },
      config: { keys: { backendKeyring: false } },
    });
  });
  afterAll(async () => {
    await front?.close();
    await backend?.close();
  });

  it('MKCOLs homes/<user>/files/ at the first login and serves encrypted files there', async () => {
    const homes = join(backend.storageRoot, 'svc', 'homes');
    expect(existsSync(join(homes, 'alice'))).toBe(false);
    for (const user of ['alice', 'bob.b']) {
      const put = await request(new URL('/hello.txt', front.url), {
        method: 'PUT',
        body: `hi ${user}`,
        headers: { authorization: front.authHeader(user), 'content-length': String(3 + user.length) },
      });
      await put.body.dump();
      expect(put.statusCode, user).toBeLessThan(300);
      const raw = await readFile(join(homes, user, 'files', 'hello.txt'));
      expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
      const got = await request(new URL('/hello.txt', front.url), { headers: { authorization: front.authHeader(user) } });
      expect(await got.body.text()).toBe(`hi ${user}`);
    }
  });
});
