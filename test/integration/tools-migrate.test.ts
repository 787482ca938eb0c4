// encrypt-all / decrypt-all as real child processes against the local storage of a
// RUNNING test gateway: plaintext files dropped into the backend get encrypted and
// still read identically through the gateway; decrypt-all restores the raw bytes; a
// user who never logged in gets her mount key created on the way.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { runDavcrypt } from '../helpers/cli.js';

const davcrypt = (args: string[], stdin: string) => runDavcrypt(args, stdin);

const pattern = patternBytes;

const dropped: Record<string, Buffer> = {
  '/notes.txt': Buffer.from('written straight to the backend'),
  '/photos/big.jpg': pattern(200_000, 9),
  '/photos/2020/empty.dat': Buffer.alloc(0),
  '/x y ü.txt': Buffer.from('odd name'),
};

async function get(gw: TestGateway, user: string, path: string): Promise<{ status: number; body: Buffer }> {
  const url = new URL(path.split('/').map(encodeURIComponent).join('/'), gw.url);
  const res = await request(url, { method: 'GET', headers: { authorization: gw.authHeader(user) } });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

async function drop(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [p, data] of Object.entries(files)) {
    const abs = join(root, ...p.split('/').filter(Boolean));
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, data);
  }
}

const raw = (root: string, p: string) => readFile(join(root, ...p.split('/').filter(Boolean)));

describe('davcrypt encrypt-all / decrypt-all against a running gateway', () => {
  let gw: TestGateway;
  let tmp: TempDir;
  let configFile: string;

  beforeAll(async () => {
    tmp = await makeTempDir('tools-migrate-it');
    // plaintext: read, the migration mode: the dropped files are served as they are until converted.
    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      mounts: [{ path: '/', plaintext: 'read', backend: { type: 'local', root: './storage/{user}' } }],
    });
    // The same config the gateway runs with, as a file for the CLI (shares its sqlite store).
    configFile = await gw.configFile();
  });
  afterAll(async () => {
    await gw?.close();
    await tmp?.cleanup();
  });

  it('encrypt-all converts dropped plaintext files; they read identically through the gateway; decrypt-all converts back', async () => {
    const home = join(gw.storageRoot, 'alice');
    // Alice's mount key exists once she used the gateway.
    expect((await get(gw, 'alice', '/')).status).toBeLessThan(300);
    await drop(home, dropped);
    for (const [p, data] of Object.entries(dropped)) expect((await get(gw, 'alice', p)).body.equals(data), p).toBe(true);

    const enc = await davcrypt(['encrypt-all', '--config', configFile, '--user', 'alice'], 'alice-pw\n');
    expect(enc.stderr).toBe('');
    expect(enc.code).toBe(0);
    expect(enc.stdout).toMatch(/encrypt-all: 4 files: 4 converted, 0 already done, 0 changed meanwhile, 0 failed/);
    expect(enc.stdout).toMatch(/mount \/ holds no plaintext files any more: remove "plaintext: read"/);
    for (const [p, data] of Object.entries(dropped)) {
      expect((await raw(home, p)).subarray(0, 8).toString('latin1'), p).toBe('DAVCRYPT');
      const got = await get(gw, 'alice', p);
      expect(got.status).toBe(200);
      expect(got.body.equals(data), p).toBe(true);
    }
    const again = await davcrypt(['encrypt-all', '/', '--config', configFile, '--user', 'alice'], 'alice-pw\n');
    expect(again.stdout).toMatch(/4 files: 0 converted, 4 already done/);

    const dec = await davcrypt(['decrypt-all', '--config', configFile, '--user', 'alice'], 'alice-pw\n');
    expect(dec.code).toBe(0);
    expect(dec.stdout).toMatch(/decrypt-all: 4 files: 4 converted/);
    for (const [p, data] of Object.entries(dropped)) {
      expect((await raw(home, p)).equals(data), p).toBe(true);
      expect((await get(gw, 'alice', p)).body.equals(data), p).toBe(true);
    }
  });

  it('creates the mount key for a user who never logged in, then the gateway reads her files', async () => {
    const home = join(gw.storageRoot, 'bob');
    await drop(home, { '/b.txt': Buffer.from('bob before encryption') });
    const enc = await davcrypt(['encrypt-all', '--config', configFile, '--user', 'bob'], 'bob-pw\n');
    expect(enc.stderr).toBe('');
    expect(enc.code).toBe(0);
    expect((await raw(home, '/b.txt')).subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect((await get(gw, 'bob', '/b.txt')).body.toString()).toBe('bob before encryption');
  });

  it('refuses a wrong password and a missing --user', async () => {
    const bad = await davcrypt(['encrypt-all', '--config', configFile, '--user', 'alice'], 'nope\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: /);
    const usage = await davcrypt(['decrypt-all', '--config', configFile], '');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: /);
  });
});
