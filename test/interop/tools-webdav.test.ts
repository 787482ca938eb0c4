// recover and verify from a WebDAV URL, and encrypt-all over WebDAV: the gateway's
// backend is a real Apache mod_dav on 127.0.0.1; files are written through the
// gateway, then the tools read (and convert) the storage over WebDAV with the
// backend's Basic credentials. Skips when apache2 is missing.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRecover } from '../../src/cli/recover.js';
import { runVerify } from '../../src/cli/verify.js';
import { runMigrate } from '../../src/cli/migrate.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { patternBytes, startTestGateway, TEST_ARGON2, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] tools-webdav: ${missing}`);

const SVC_PASSWORD = 'svc p+ss/é';

function io(password: string, env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  return {
    io: {
      stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { isTTY: false, write: () => true },
      input: Readable.from([password + '\n']) as unknown as NodeJS.ReadableStream,
      output: { write: () => true } as unknown as NodeJS.WritableStream,
      env,
    },
    stdout: () => stdout,
  };
}

const pattern = (n: number): Buffer => patternBytes(n, 3);

const content: Record<string, Buffer> = {
  '/hello.txt': Buffer.from('hello over webdav'),
  '/dir/big.bin': pattern(150_000),
};

describe.skipIf(missing !== undefined)('tools over a WebDAV backend (Apache mod_dav)', () => {
  let tmp: TempDir;
  let apache: ApacheServer;
  let gw: TestGateway;
  let shareRoot: string;

  beforeAll(async () => {
    tmp = await makeTempDir('tools-webdav');
    shareRoot = join(tmp.path, 'share');
    apache = await startApache({ root: shareRoot, user: 'svc', password: SVC_PASSWORD });
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, backend: { webdavUrl: apache.url, username: 'svc', password: SVC_PASSWORD } });
    const auth = gw.authHeader('alice');
    const mk = await request(new URL('/dir/', gw.url), { method: 'MKCOL', headers: { authorization: auth } });
    await mk.body.dump();
    for (const [p, data] of Object.entries(content)) {
      const res = await request(new URL(p, gw.url), { method: 'PUT', body: data, headers: { authorization: auth, 'content-length': String(data.length) } });
      await res.body.dump();
      expect(res.statusCode).toBeLessThan(300);
    }
  });
  afterAll(async () => {
    await gw?.close();
    await apache?.stop();
    await tmp?.cleanup();
  });

  it('recover --from a subfolder URL is refused, naming the mount root URL above it', async () => {
    const t = io('alice-pw', { SVC_PW: SVC_PASSWORD });
    const sub = new URL('alice/dir/', apache.url).href;
    const err = await runRecover(
      ['--from', sub, '--out', join(tmp.path, 'sub-out'), '--user', 'alice', '--backend-user', 'svc', '--backend-password-env', 'SVC_PW'],
      t.io,
    ).catch((e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ code: 'DC_ERR_NOT_FOUND' });
    expect((err as Error).message).toContain(`use --from ${new URL('alice/', apache.url).href}`);
  });

  it('recover --from URL decrypts every file with the backend credentials from the environment', async () => {
    const out = join(tmp.path, 'out');
    const t = io('alice-pw', { SVC_PW: SVC_PASSWORD });
    const code = await runRecover(
      ['--from', new URL('alice/', apache.url).href, '--out', out, '--user', 'alice', '--backend-user', 'svc', '--backend-password-env', 'SVC_PW'],
      t.io,
    );
    expect(t.stdout()).toMatch(/2 decrypted, 0 copied as plaintext, 0 salvaged with holes, 0 failed/);
    expect(code).toBe(0);
    for (const [p, data] of Object.entries(content)) expect((await readFile(join(out, p))).equals(data), p).toBe(true);
    expect((await readdir(out)).sort()).toEqual(['dir', 'hello.txt']);
  });

  it('verify --from URL passes, and names a file tampered on the backend', async () => {
    const url = new URL('alice/', apache.url).href;
    const clean = io('alice-pw', { SVC_PW: SVC_PASSWORD });
    expect(await runVerify(['--from', url, '--user', 'alice', '--backend-user', 'svc', '--backend-password-env', 'SVC_PW'], clean.io, '/nonexistent.yaml')).toBe(0);
    const file = join(shareRoot, 'alice', 'dir', 'big.bin');
    const raw = await readFile(file);
    raw[raw.length - 40] ^= 1;
    await writeFile(file, raw);
    const bad = io('alice-pw', { SVC_PW: SVC_PASSWORD });
    expect(await runVerify(['--from', url, '--user', 'alice', '--backend-user', 'svc', '--backend-password-env', 'SVC_PW'], bad.io, '/nonexistent.yaml')).toBe(3);
    expect(bad.stdout()).toMatch(/^FAILED \/dir\/big\.bin\tDC_ERR_TAMPERED\t/m);
    raw[raw.length - 40] ^= 1;
    await writeFile(file, raw);
  });

  it('encrypt-all converts plaintext files on the WebDAV backend (MOVE over the original)', async () => {
    // Dropped straight into the backend over WebDAV (as www-data owns the share), bypassing the gateway.
    const plainDir = join(shareRoot, 'alice', 'legacy');
    const legacy = pattern(70_000);
    const svc = { authorization: 'Basic ' + Buffer.from(`svc:${SVC_PASSWORD}`).toString('base64') };
    const mk = await request(new URL('alice/legacy/', apache.url), { method: 'MKCOL', headers: svc });
    await mk.body.dump();
    expect(mk.statusCode).toBe(201);
    const put = await request(new URL('alice/legacy/old.bin', apache.url), { method: 'PUT', body: legacy, headers: { ...svc, 'content-length': String(legacy.length) } });
    await put.body.dump();
    expect(put.statusCode).toBeLessThan(300);
    const configFile = join(tmp.path, 'davcrypt.yaml');
    await writeFile(
      configFile,
      [
        `dataDir: ${JSON.stringify(gw.dataDir)}`,
        `store: ${JSON.stringify('sqlite://' + join(gw.dataDir, 'davcrypt.sqlite'))}`,
        `keys:`,
        `  argon2: { m: ${TEST_ARGON2.m}, t: ${TEST_ARGON2.t}, p: ${TEST_ARGON2.p} }`,
        `mounts:`,
        `  - path: /`,
        `    backend: { type: webdav, url: ${JSON.stringify(apache.url + '{user}/')}, username: svc, password: ${JSON.stringify(SVC_PASSWORD)} }`,
        '',
      ].join('\n'),
    );
    const t = io('alice-pw');
    const code = await runMigrate('encrypt', ['--config', configFile, '--user', 'alice'], t.io, configFile);
    expect(t.stdout()).toMatch(/encrypt-all: 3 files: 1 converted, 2 already done, 0 changed meanwhile, 0 failed/);
    expect(code).toBe(0);
    expect((await readFile(join(plainDir, 'old.bin'))).subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    const res = await request(new URL('/legacy/old.bin', gw.url), { headers: { authorization: gw.authHeader('alice') } });
    expect(Buffer.from(await res.body.arrayBuffer()).equals(legacy)).toBe(true);
  });
});
