// key rotate --reencrypt / key reencrypt against a running gateway on local storage:
// every file ends under the new key id and reads identically; a run stopped mid-way
// (AbortSignal from a hook) leaves every file readable and the next run finishes;
// --drop-old then removes the old keys. Master-key mode: files readable through the
// gateway, keys opened offline with the master key file alone.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalBackend } from '../../src/backends/index.js';
import { runKey, runMaster } from '../../src/cli/key.js';
import { runMount } from '../../src/cli/mount.js';
import { createDecryptStream, highestKey, parseKeyring, unwrapMountKey, type Keyring } from '../../src/crypto/index.js';
import { createMountKeySet, readMasterKeyFile, unwrapEvery } from '../../src/keys/index.js';
import { reencryptTree } from '../../src/tools/reencrypt.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { inProcessCliIO } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/** The current key of a keyring the gateway wrote (format 2: highest sequence number). */
const currentOfRing = (k: { keys: { id: string; seq: number }[] }): string => highestKey(k.keys)!.id;

const cliIO = inProcessCliIO;

const put = async (gw: TestGateway, path: string, body: Buffer, auth: string): Promise<number> => (await gatewayRequest(gw, 'PUT', path, { auth, body })).status;

const get = (gw: TestGateway, path: string, auth: string) => gatewayRequest(gw, 'GET', path, { auth });

const pattern = patternBytes;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const keyringAt = async (dir: string): Promise<Keyring> => parseKeyring(await readFile(join(dir, '.davcrypt', 'keyring.json'), 'utf8'));
const keyIdOf = async (file: string) => (await readFile(file)).subarray(10, 26).toString('hex');

const FILES: Record<string, Buffer> = {
  '/a.txt': Buffer.from('first'),
  '/b.bin': pattern(300_000, 1),
  '/c/d.txt': Buffer.from('nested file'),
  '/c/e.bin': pattern(65_536, 2),
  '/empty.dat': Buffer.alloc(0),
  '/z.txt': Buffer.from('last'),
};

async function fill(gw: TestGateway, auth: string): Promise<void> {
  const mk = await request(new URL('/c/', gw.url), { method: 'MKCOL', headers: { authorization: auth } });
  await mk.body.dump();
  for (const [p, b] of Object.entries(FILES)) expect(await put(gw, p, b, auth)).toBeLessThan(300);
}

describe('re-encryption and master-key mode', () => {
  let gw: TestGateway | undefined;
  let tmp: TempDir | undefined;
  afterEach(async () => {
    await gw?.close();
    await tmp?.cleanup();
    gw = undefined;
    tmp = undefined;
  });

  it('rotate --reencrypt: stopped mid-way, resumed, then --drop-old; every file reads identically', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { auth: { recheckSeconds: 0 } } });
    await fill(gw, gw.authHeader());
    const home = join(gw.storageRoot, 'alice');
    const config = await gw.configFile();
    const oldKey = currentOfRing(await keyringAt(home));

    // Rotate, then re-encrypt in-process with a hook that aborts after the second replacement.
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], cliIO('').io, config)).toBe(0);
    const ring = await keyringAt(home);
    expect(currentOfRing(ring)).not.toBe(oldKey);
    const backend = await createLocalBackend(home);
    const { keys: opened } = unwrapEvery(ring, 'user:alice', await alicePrivate(gw));
    const keys = createMountKeySet(opened, opened.find((k) => k.id.toString('hex') === currentOfRing(ring))!);
    const controller = new AbortController();
    let replaced = 0;
    await expect(
      reencryptTree({
        backend,
        keys,
        signal: controller.signal,
        beforeReplace: () => {
          if (++replaced === 3) controller.abort(new Error('stop here'));
        },
      }),
    ).rejects.toMatchObject({ code: 'DC_ERR_ABORTED' });
    // Mid-way: a mix of old and new key ids, every file still reads.
    const ids = await Promise.all(Object.keys(FILES).map((p) => keyIdOf(join(home, ...p.split('/')))));
    expect(ids.filter((id) => id === currentOfRing(ring))).toHaveLength(2);
    expect(ids.filter((id) => id === oldKey)).toHaveLength(4);
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(gw, p, gw.authHeader())).body), p).toBe(sha(b));
    await backend.close();

    // Resume through the CLI: the rest is re-encrypted, temp leftovers removed, old key dropped.
    const mtimeBefore = (await stat(join(home, 'b.bin'))).mtimeMs;
    const run = cliIO('alice-pw\n');
    expect(await runKey(['reencrypt', '/', '--user', 'alice', '--drop-old', '--config', config], run.io, config)).toBe(0);
    expect(run.stdout()).toMatch(/re-encrypted 4 of 6 files to key [0-9a-f]{32} \(2 already current, 0 plaintext/);
    expect(run.stdout()).toMatch(/dropped 1 old key: /);
    for (const p of Object.keys(FILES)) expect(await keyIdOf(join(home, ...p.split('/'))), p).toBe(currentOfRing(ring));
    expect((await stat(join(home, 'b.bin'))).mtimeMs).toBe(mtimeBefore); // modification time kept
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(gw, p, gw.authHeader())).body), p).toBe(sha(b));
    const after = await keyringAt(home);
    expect(after.keys.map((k) => k.id)).toEqual([currentOfRing(ring)]);
    expect(await readdir(join(home, '.davcrypt', 'reencrypt'))).toEqual([]);

    // A second rotate --reencrypt in one go.
    const again = cliIO('alice-pw\n');
    expect(await runKey(['rotate', '/', '--user', 'alice', '--reencrypt', '--drop-old', '--config', config], again.io, config)).toBe(0);
    const third = await keyringAt(home);
    expect(third.keys.map((k) => k.id)).toEqual([currentOfRing(third)]);
    for (const p of Object.keys(FILES)) expect(await keyIdOf(join(home, ...p.split('/'))), p).toBe(currentOfRing(third));
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(gw, p, gw.authHeader())).body), p).toBe(sha(b));
  });

  it('master mode: the gateway opens keys with the key file; offline the file alone opens them; grant --master', async () => {
    tmp = await makeTempDir('keys-master');
    const keyFile = join(tmp.path, 'master.key');
    const cfg = join(tmp.path, 'init.yaml');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(cfg, JSON.stringify({ dataDir: tmp!.path, keys: { mode: 'master', masterKeyFile: keyFile }, mounts: [{ path: '/', backend: { type: 'local', root: join(tmp!.path, 's', '{user}') } }] })),
    );
    const init = cliIO('');
    expect(await runMaster(['init', '--config', cfg], init.io, cfg)).toBe(0);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    await expect(runMaster(['init', '--config', cfg], cliIO('').io, cfg)).rejects.toMatchObject({ code: 'DC_ERR_EXISTS' });

    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      mounts: [
        { path: '/', backend: { type: 'local', root: './storage/{user}' } },
        { path: '/team', users: ['alice', 'bob'], backend: { type: 'local', root: './team' } },
      ],
      config: { keys: { mode: 'master', masterKeyFile: keyFile }, auth: { recheckSeconds: 0 } },
    });
    await fill(gw, gw.authHeader('alice'));
    expect(await put(gw, '/team/t.bin', pattern(80_000, 5), gw.authHeader('alice'))).toBeLessThan(300);
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(gw, p, gw.authHeader('alice'))).body), p).toBe(sha(b));
    expect(sha((await get(gw, '/team/t.bin', gw.authHeader('bob'))).body)).toBe(sha(pattern(80_000, 5)));

    const ring = await keyringAt(join(gw.storageRoot, 'alice'));
    expect(ring.identities.master).toEqual({ publicKey: (await readMasterKeyFile(keyFile)).publicKey.toString('base64') });
    expect(ring.keys[0]!.wraps.map((w) => w.to).sort()).toEqual(['master', 'user:alice']);
    // Offline: the key file alone opens the keys and decrypts a file.
    const master = await readMasterKeyFile(keyFile);
    const wrap = ring.keys[0]!.wraps.find((w) => w.to === 'master')!;
    const mountKey = unwrapMountKey(wrap, Buffer.from(ring.keys[0]!.id, 'hex'), master.privateKey);
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([await readFile(join(gw.storageRoot, 'alice', 'b.bin'))]),
      createDecryptStream({ resolveKey: () => mountKey }),
      async function (src: AsyncIterable<Buffer>) {
        for await (const c of src) chunks.push(c);
      },
    );
    expect(sha(Buffer.concat(chunks))).toBe(sha(FILES['/b.bin']!));

    // A new member of the team gets in through the master key (no member password needed).
    const config = await gw.configFile();
    await gw.gateway.users.accounts.add('carol', 'carol-pw');
    gw.users.carol = 'carol-pw';
    await gw.restart({ mounts: [
      { path: '/', backend: { type: 'local', root: './storage/{user}' } },
      { path: '/team', users: ['alice', 'bob', 'carol'], backend: { type: 'local', root: './team' } },
    ] });
    const config2 = await gw.configFile();
    expect(config2).toBe(config);
    expect(await runMount(['grant', '/team', 'carol', '--master', '--config', config2], cliIO('').io, config2)).toBe(0);
    const team = await keyringAt(join(gw.root, 'team'));
    expect(team.keys[0]!.wraps.map((w) => w.to)).toContain('user:carol');
    expect(sha((await get(gw, '/team/t.bin', gw.authHeader('carol'))).body)).toBe(sha(pattern(80_000, 5)));

    // A key file readable by others is refused at start.
    await import('node:fs/promises').then((fs) => fs.chmod(keyFile, 0o644));
    await expect(readMasterKeyFile(keyFile)).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
  });
});

/** alice's private key, opened from her user record with her password (what the CLI does). */
async function alicePrivate(gw: TestGateway): Promise<Buffer> {
  const { openIdentity } = await import('../../src/crypto/index.js');
  const rec = await gw.gateway.users.records.get('alice');
  return openIdentity(rec!.envelope, 'user:alice', 'alice-pw');
}
