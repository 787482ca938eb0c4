// migrateTree on a real local backend: encrypt-all and decrypt-all round trip, resume
// after an interrupted run, a file modified during conversion is not replaced, a
// tampered file is reported and kept, nested mounts are left alone.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../../src/backends/index.js';
import { hasMagic } from '../../../src/crypto/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { createMountKeySet } from '../../../src/keys/index.js';
import { migrateTree } from '../../../src/tools/migrate.js';
import { recoverTree } from '../../../src/tools/recover.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { buildMount, patternBytes } from './fixture.js';

let tmp: TempDir;
let store: string;
beforeEach(async () => {
  tmp = await makeTempDir('tools-migrate');
  store = join(tmp.path, 'store');
});
afterEach(async () => {
  await tmp.cleanup();
});

const originals: Record<string, Buffer> = {
  '/a.txt': Buffer.from('alpha'),
  '/b/empty.bin': Buffer.alloc(0),
  '/b/big.bin': patternBytes(3 * 65536 + 77, 5),
  '/b/c/d.txt': Buffer.from('delta'),
  '/z.txt': Buffer.from('zulu'),
};

async function setup() {
  const built = await buildMount(store, { identities: { 'user:alice': 'pw' }, plain: originals });
  return { backend: new LocalBackend(store), keys: createMountKeySet([built.key], built.key) };
}

const raw = (p: string) => readFile(join(store, ...p.split('/').filter(Boolean)));

async function expectAllEncryptedAndIntact() {
  for (const p of Object.keys(originals)) expect(hasMagic(await raw(p)), p).toBe(true);
  const out = join(tmp.path, 'check-' + Math.random().toString(36).slice(2));
  const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw' });
  expect(report.failed).toEqual([]);
  for (const [p, data] of Object.entries(originals)) {
    expect((await readFile(join(out, ...p.split('/').filter(Boolean)))).equals(data), p).toBe(true);
  }
}

describe('migrateTree', () => {
  it('encrypt-all converts plaintext files, keeps mtimes; decrypt-all converts back byte for byte', async () => {
    const { backend, keys } = await setup();
    const when = new Date('2019-01-02T03:04:05Z');
    await utimes(join(store, 'a.txt'), when, when);
    const enc = await migrateTree({ backend, keys, direction: 'encrypt' });
    expect(enc).toMatchObject({ files: 5, converted: 5, skipped: 0, changed: [], failed: [] });
    await expectAllEncryptedAndIntact();
    expect((await stat(join(store, 'a.txt'))).mtime.getTime()).toBe(when.getTime());
    expect(await readdir(join(store, '.davcrypt', 'migrate'))).toEqual([]);

    const again = await migrateTree({ backend, keys, direction: 'encrypt' });
    expect(again).toMatchObject({ converted: 0, skipped: 5 });

    const dec = await migrateTree({ backend, keys, direction: 'decrypt' });
    expect(dec).toMatchObject({ files: 5, converted: 5, skipped: 0, failed: [] });
    for (const [p, data] of Object.entries(originals)) expect((await raw(p)).equals(data), p).toBe(true);
  });

  it('resumes after an interrupted run: no data lost, stale temp copies removed', async () => {
    const { backend, keys } = await setup();
    const ac = new AbortController();
    let done = 0;
    const err = await migrateTree({
      backend, keys, direction: 'encrypt', signal: ac.signal,
      hooks: { afterReplace: () => { if (++done === 2) ac.abort(new Error('killed')); } },
    }).catch((e) => e);
    expect(isDavcryptError(err, 'DC_ERR_ABORTED')).toBe(true);
    // Stop a second run between verify and replace, as a kill would: the original must be untouched.
    const err2 = await migrateTree({
      backend, keys, direction: 'encrypt',
      hooks: { beforeReplace: () => { throw new Error('kill -9'); } },
    }).catch((e) => e);
    expect(isDavcryptError(err2, 'DC_ERR_ABORTED')).toBe(true);
    const states = await Promise.all(Object.keys(originals).map(async (p) => hasMagic(await raw(p))));
    expect(states.filter(Boolean)).toHaveLength(2);
    // A kill leaves a temp copy behind: simulate one.
    await writeFile(join(store, '.davcrypt', 'migrate', 'deadbeef'), 'half a file');
    const resumed = await migrateTree({ backend, keys, direction: 'encrypt' });
    expect(resumed).toMatchObject({ converted: 3, skipped: 2, failed: [], changed: [] });
    expect(resumed.staleTempsRemoved).toBe(1);
    await expectAllEncryptedAndIntact();
  });

  it('does not replace a file modified during its conversion', async () => {
    const { backend, keys } = await setup();
    const report = await migrateTree({
      backend, keys, direction: 'encrypt',
      hooks: { beforeReplace: async (p) => { if (p === '/b/c/d.txt') await writeFile(join(store, 'b', 'c', 'd.txt'), 'edited meanwhile'); } },
    });
    expect(report.changed).toEqual(['/b/c/d.txt']);
    expect(report.converted).toBe(4);
    expect(await readFile(join(store, 'b', 'c', 'd.txt'), 'utf8')).toBe('edited meanwhile');
    expect(await readdir(join(store, '.davcrypt', 'migrate'))).toEqual([]);
    const rerun = await migrateTree({ backend, keys, direction: 'encrypt' });
    expect(rerun).toMatchObject({ converted: 1, skipped: 4 });
  });

  it('decrypt-all reports a tampered file and keeps it as it was', async () => {
    const { backend, keys } = await setup();
    await migrateTree({ backend, keys, direction: 'encrypt' });
    const p = join(store, 'b', 'big.bin');
    const bytes = await readFile(p);
    bytes[65 + 100] ^= 0x40;
    await writeFile(p, bytes);
    const report = await migrateTree({ backend, keys, direction: 'decrypt' });
    expect(report.failed.map((f) => [f.path, f.code])).toEqual([['/b/big.bin', 'DC_ERR_TAMPERED']]);
    expect(report.converted).toBe(4);
    expect((await readFile(p)).equals(bytes)).toBe(true);
  });

  it('leaves a nested mount (own keyring) alone', async () => {
    const { backend, keys } = await setup();
    await mkdir(join(store, 'shared', '.davcrypt'), { recursive: true });
    await writeFile(join(store, 'shared', '.davcrypt', 'keyring.json'), '{}');
    await writeFile(join(store, 'shared', 'x.txt'), 'other mount');
    const report = await migrateTree({ backend, keys, direction: 'encrypt' });
    expect(report.nestedMounts).toEqual(['/shared']);
    expect(await readFile(join(store, 'shared', 'x.txt'), 'utf8')).toBe('other mount');
    expect(existsSync(join(store, '.davcrypt', 'migrate'))).toBe(true);
  });
});
