// recoverTree / verifyTree on real folders: full recovery with a user and the recovery
// identity, wrong password, tampered and truncated files, salvage of damaged segments,
// nested mount keyrings, rotated keys.
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../../src/backends/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { generateIdentityKeyPair } from '../../../src/crypto/index.js';
import { IdentityUnlocker, MasterKeyUnlocker } from '../../../src/tools/identity-keys.js';
import { KeyScopes } from '../../../src/tools/key-scopes.js';
import { recoverTree, DAMAGE_REPORT_SUFFIX } from '../../../src/tools/recover.js';
import { verifyTree } from '../../../src/tools/verify.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { buildMount, patternBytes } from './fixture.js';

const S = 4096; // segment exponent 12 in the fixture

let tmp: TempDir;
let store: string;
let out: string;
beforeEach(async () => {
  tmp = await makeTempDir('tools-recover');
  store = join(tmp.path, 'store');
  out = join(tmp.path, 'out');
});
afterEach(async () => {
  await tmp.cleanup();
});

const big = patternBytes(5 * S + 123, 3);
const files = {
  '/a.txt': 'hello alice',
  '/empty.bin': '',
  '/docs/big.bin': big,
  '/docs/deep/x.txt': 'deep file',
};

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listTree(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

function flipByte(buf: Buffer, offset: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset] = copy[offset]! ^ 0x01;
  return copy;
}

describe('recoverTree', () => {
  it('recovers every file with a user password, copies plaintext files, keeps mtimes, skips .davcrypt', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a', recovery: 'pw-r' }, files, plain: { '/legacy.txt': 'not encrypted' } });
    const when = new Date('2020-05-06T07:08:09Z');
    await utimes(join(store, 'docs', 'big.bin'), when, when);
    const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw-a' });
    expect(report.failed).toEqual([]);
    expect(report.decrypted).toBe(4);
    expect(report.copied).toBe(1);
    expect(await listTree(out)).toEqual(['/a.txt', '/docs/big.bin', '/docs/deep/x.txt', '/empty.bin', '/legacy.txt']);
    expect((await readFile(join(out, 'docs', 'big.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('hello alice');
    expect((await readFile(join(out, 'empty.bin'))).length).toBe(0);
    expect(await readFile(join(out, 'legacy.txt'), 'utf8')).toBe('not encrypted');
    expect((await stat(join(out, 'docs', 'big.bin'))).mtime.getTime()).toBe(when.getTime());
  });

  it('recovers with the recovery identity', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a', recovery: 'pw-r' }, files });
    const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'recovery', password: 'pw-r' });
    expect(report.failed).toEqual([]);
    expect(report.decrypted).toBe(4);
    expect((await readFile(join(out, 'docs', 'big.bin'))).equals(big)).toBe(true);
  });

  it('fails cleanly with a wrong password, before writing any file', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files });
    const err = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'nope' }).catch((e) => e);
    expect(isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')).toBe(true);
    expect(existsSync(out) ? await listTree(out) : []).toEqual([]);
  });

  it('fails with DC_ERR_NO_ACCESS for an identity the keyring does not have', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files });
    const err = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:bob', password: 'pw-a' }).catch((e) => e);
    expect(isDavcryptError(err, 'DC_ERR_NO_ACCESS')).toBe(true);
  });

  it('reports a tampered and a truncated file by path and still recovers the others', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files: { ...files, '/t1.bin': big, '/t2.bin': big } });
    const t1 = join(store, 't1.bin');
    const t2 = join(store, 't2.bin');
    await writeFile(t1, flipByte(await readFile(t1), 65 + S + 32 + 10));
    await truncate(t2, 65 + 2 * (S + 32));
    const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw-a' });
    expect(report.failed.map((f) => [f.path, f.code])).toEqual([
      ['/t1.bin', 'DC_ERR_TAMPERED'],
      ['/t2.bin', 'DC_ERR_TRUNCATED'],
    ]);
    expect(report.decrypted).toBe(4);
    expect(existsSync(join(out, 't1.bin'))).toBe(false);
    expect(existsSync(join(out, 't2.bin'))).toBe(false);
    // no temp file left behind
    expect((await readdir(out)).filter((n) => n.startsWith('.davcrypt'))).toEqual([]);
    expect((await readFile(join(out, 'docs', 'big.bin'))).equals(big)).toBe(true);
  });

  it('--skip-bad-segments salvages the undamaged segments and lists the damaged range', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files: { '/m.bin': big, '/cut.bin': big } });
    const m = join(store, 'm.bin');
    await writeFile(m, flipByte(await readFile(m), 65 + 2 * (S + 32) + 100)); // inside segment 2
    await truncate(join(store, 'cut.bin'), 65 + 3 * (S + 32) + 50); // inside segment 3
    const report = await recoverTree({
      source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw-a', skipBadSegments: true,
    });
    expect(report.failed).toEqual([]);
    const byPath = Object.fromEntries(report.salvaged.map((s) => [s.path, s.damage]));
    expect(byPath['/m.bin']).toEqual([{ firstSegment: 2, lastSegment: 2, plainStart: 2 * S, plainEnd: 3 * S - 1, code: 'DC_ERR_TAMPERED' }]);
    const got = await readFile(join(out, 'm.bin'));
    expect(got.length).toBe(big.length);
    expect(got.subarray(0, 2 * S).equals(big.subarray(0, 2 * S))).toBe(true);
    expect(got.subarray(2 * S, 3 * S).equals(Buffer.alloc(S))).toBe(true);
    expect(got.subarray(3 * S).equals(big.subarray(3 * S))).toBe(true);
    const note = await readFile(join(out, 'm.bin' + DAMAGE_REPORT_SUFFIX), 'utf8');
    expect(note).toContain(`bytes ${2 * S}-${3 * S - 1} (segment 2): DC_ERR_TAMPERED`);

    const cut = byPath['/cut.bin']!;
    // Cut inside segment 3: its remains fail like a damaged final segment, and the end is unknown.
    expect(cut).toEqual([{ firstSegment: 3, lastSegment: 3, plainStart: 3 * S, plainEnd: undefined, code: 'DC_ERR_TAMPERED' }]);
    const gotCut = await readFile(join(out, 'cut.bin'));
    expect(gotCut.length).toBe(3 * S);
    expect(await readFile(join(out, 'cut.bin' + DAMAGE_REPORT_SUFFIX), 'utf8')).toContain(`bytes ${3 * S}-(end unknown)`);
    expect(gotCut.subarray(0, 3 * S).equals(big.subarray(0, 3 * S))).toBe(true);
  });

  it('uses a nested mount keyring for its subtree and reports one it cannot open', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files: { '/mine.txt': 'home file' } });
    await buildMount(join(store, 'team'), { identities: { 'user:alice': 'pw-a', 'user:bob': 'pw-b' }, files: { '/t.txt': 'team file' } });
    await buildMount(join(store, 'bobs'), { identities: { 'user:bob': 'pw-b' }, files: { '/secret.txt': 'bob only' } });
    const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw-a' });
    expect(await readFile(join(out, 'team', 't.txt'), 'utf8')).toBe('team file');
    expect(await readFile(join(out, 'mine.txt'), 'utf8')).toBe('home file');
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ path: '/bobs/secret.txt', code: 'DC_ERR_NO_ACCESS' });
    expect(report.failed[0]!.message).toContain('/bobs/.davcrypt/keyring.json');
    expect(report.keyrings.map((k) => [k.root, k.status])).toEqual([['/', 'opened'], ['/bobs', 'failed'], ['/team', 'opened']]);
  });

  it('decrypts files written under an older (rotated) key', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files: { '/new.txt': 'new' }, oldKeyFiles: { '/old.txt': 'old' } });
    const report = await recoverTree({ source: new LocalBackend(store), outDir: out, identity: 'user:alice', password: 'pw-a' });
    expect(report.failed).toEqual([]);
    expect(await readFile(join(out, 'old.txt'), 'utf8')).toBe('old');
  });
});

describe('MasterKeyUnlocker', () => {
  it('refuses a keyring without a master identity (DC_ERR_NO_ACCESS) and wipes its key', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files });
    const privateKey = generateIdentityKeyPair().privateKey;
    const err = await recoverTree({ source: new LocalBackend(store), outDir: out, unlocker: new MasterKeyUnlocker(privateKey) }).catch((e) => e);
    expect(isDavcryptError(err, 'DC_ERR_NO_ACCESS')).toBe(true);
    expect(err.message).toMatch(/no identity master/);
    expect(privateKey.equals(Buffer.alloc(32))).toBe(true);
  });
});

describe('verifyTree', () => {
  const scopesFor = (root: string, identity = 'user:alice', pw = 'pw-a') =>
    new KeyScopes(new LocalBackend(root), new IdentityUnlocker(identity, pw));

  it('passes a clean tree and counts plaintext files (plaintext: read); refuses them by default', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files, plain: { '/p.txt': 'plain', '/cut.bin': 'DAVCR' } });
    const report = await verifyTree({ source: new LocalBackend(store), scopes: scopesFor(store), plaintext: 'read' });
    expect(report).toMatchObject({ files: 6, verified: 4, plaintext: 2, failed: [] });
    const refused = await verifyTree({ source: new LocalBackend(store), scopes: scopesFor(store) });
    expect(refused).toMatchObject({ files: 6, verified: 4, plaintext: 0 });
    expect(refused.failed.map((x) => [x.path, x.code]).sort()).toEqual([
      ['/cut.bin', 'DC_ERR_BAD_HEADER'],
      ['/p.txt', 'DC_ERR_NOT_ENCRYPTED'],
    ]);
  });

  it('finds a flipped bit and a truncation', async () => {
    await buildMount(store, { identities: { 'user:alice': 'pw-a' }, files: { ...files, '/flip.bin': big, '/short.bin': big } });
    const f = join(store, 'flip.bin');
    await writeFile(f, flipByte(await readFile(f), 65 + 4 * (S + 32) + 1));
    await truncate(join(store, 'short.bin'), 65 + 4 * (S + 32));
    const report = await verifyTree({ source: new LocalBackend(store), scopes: scopesFor(store) });
    expect(report.failed.map((x) => [x.path, x.code])).toEqual([
      ['/flip.bin', 'DC_ERR_TAMPERED'],
      ['/short.bin', 'DC_ERR_TRUNCATED'],
    ]);
    expect(report.verified).toBe(4);
  });
});
