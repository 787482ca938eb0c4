// `npm start`-style start: the CLI serving the embedded default config
// (config/default.yaml) in an empty temp working directory, port from
// DAVCRYPT_PORT. Checks the first-start admin password (stdout once, file 0600),
// OPTIONS without credentials, health, 401 challenges, graceful SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDavcrypt } from '../helpers/cli.js';
import { freePort, stopChild, tailBuffer, waitForHttp } from '../helpers/server-process.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '../..');

describe('davcrypt serve with the default config', () => {
  let tmp: TempDir;
  let child: ChildProcess;
  let port: number;
  const out = tailBuffer();
  let stdout = '';

  beforeAll(async () => {
    tmp = await makeTempDir('app-start');
    port = await freePort();
    child = spawn(process.execPath, [join(REPO, 'bin/davcrypt.js'), 'serve', '--config', join(REPO, 'config/default.yaml')], {
      cwd: tmp.path,
      env: { ...process.env, DAVCRYPT_PORT: String(port), DAVCRYPT_LOG_LEVEL: 'warn', DAVCRYPT_ADMIN_PASSWORD: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      out.push(c);
    });
    child.stderr!.on('data', (c: Buffer) => out.push(c));
    await waitForHttp(port, child, 60_000, () => out.text());
  });

  afterAll(async () => {
    if (child) await stopChild(child);
    await tmp?.cleanup();
  });

  it('answers OPTIONS and health without credentials, 401 with a Basic challenge otherwise', async () => {
    const options = await request(`http://127.0.0.1:${port}/`, { method: 'OPTIONS' });
    await options.body.dump();
    expect(options.statusCode).toBeLessThan(300);
    expect(String(options.headers.dav ?? '')).toMatch(/1/);
    const health = await request(`http://127.0.0.1:${port}/.well-known/davcrypt/health`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toMatchObject({ status: 'ok' }); // alias of /readyz: also lists its checks
    const anon = await request(`http://127.0.0.1:${port}/`, { method: 'PROPFIND', headers: { depth: '0' } });
    await anon.body.dump();
    expect(anon.statusCode).toBe(401);
    expect(String(anon.headers['www-authenticate'])).toMatch(/^Basic realm="davcrypt"/);
  });

  it('created admin once: password printed on stdout and saved with mode 0600 under ./data', async () => {
    const file = join(tmp.path, 'data', 'initial-admin-password');
    const password = (await readFile(file, 'utf8')).trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/); // base64url of 18 bytes
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(stdout.split(password).length - 1).toBe(1);
    expect((await stat(join(tmp.path, 'data', 'davcrypt.sqlite'))).isFile()).toBe(true);

    const wrong = await request(`http://127.0.0.1:${port}/`, {
      method: 'PROPFIND',
      headers: { depth: '0', authorization: 'Basic ' + Buffer.from('admin:wrong').toString('base64') },
    });
    await wrong.body.dump();
    expect(wrong.statusCode).toBe(401);
  });

  it('says which config, store and storage it uses; files land in ./storage, state in ./data', async () => {
    expect(stdout).toContain(`davcrypt: using config ${join(REPO, 'config/default.yaml')}, store sqlite://${join(tmp.path, 'data/davcrypt.sqlite')}`);
    expect(stdout).toContain(`davcrypt: mount / stores in ${join(tmp.path, 'storage/{user}')}`);
    const password = (await readFile(join(tmp.path, 'data', 'initial-admin-password'), 'utf8')).trim();
    const put = await request(`http://127.0.0.1:${port}/hello.txt`, {
      method: 'PUT', body: 'hi', headers: { authorization: 'Basic ' + Buffer.from(`admin:${password}`).toString('base64') },
    });
    await put.body.dump();
    expect(put.statusCode).toBe(201);
    expect((await stat(join(tmp.path, 'storage', 'admin', 'hello.txt'))).isFile()).toBe(true);
    expect(existsSync(join(tmp.path, 'data', 'storage'))).toBe(false);
  });

  it('exits 0 on SIGTERM after closing', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(request(`http://127.0.0.1:${port}/`, { method: 'OPTIONS' })).rejects.toThrow();
  });
});

describe('davcrypt serve on the earlier layout (files in ./data/storage)', () => {
  it('refuses to start, changes nothing, and prints the mv that fixes it', async () => {
    const tmp = await makeTempDir('app-start-legacy');
    try {
      await mkdir(join(tmp.path, 'data/storage/alice/.davcrypt'), { recursive: true });
      const r = await runDavcrypt(['serve', '--config', join(REPO, 'config/default.yaml')], '', {
        cwd: tmp.path, env: { DAVCRYPT_PORT: String(await freePort()), DAVCRYPT_ADMIN_PASSWORD: '' },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`DC_ERR_CONFIG: ${join(tmp.path, 'data/storage')} holds stored files of the earlier default layout`);
      expect(r.stderr).toContain(`mv ${join(tmp.path, 'data/storage')} ${join(tmp.path, 'storage')}`);
      expect(existsSync(join(tmp.path, 'storage'))).toBe(false);
      expect(existsSync(join(tmp.path, 'data/davcrypt.sqlite'))).toBe(false);
    } finally {
      await tmp.cleanup();
    }
  });
});
