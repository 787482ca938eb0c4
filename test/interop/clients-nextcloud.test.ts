// The ownCloud/Nextcloud desktop sync clients (Debian nextcloudcmd and owncloudcmd) against the
// ENCRYPTED gateway: a tree of ~300 files (unicode names, nesting, empty folders, a 50 MiB file
// that goes up in chunks; a 24 MiB one goes up chunked from the other client) synced up by one
// client and down by the other, then changed and deleted
// on both sides and synced again; all trees equal byte for byte, the backend holds ciphertext only.
// Skips with a printed reason when a client is missing.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf } from '../helpers/clients.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { readTree, runSync, syncClientMissing, treeDiff } from '../helpers/sync-clients.js';

const missing = syncClientMissing('nextcloudcmd') ?? syncClientMissing('owncloudcmd');
if (missing) console.warn(`skipping Nextcloud/ownCloud client interop: ${missing}`);

const MARK = 'PLAINTEXT-MARK-';
const BIG_BYTES = 50 * 1024 * 1024;

/** ~300 files, each starting with a marker the backend must never see, plus empty folders and one 50 MiB file. */
async function makeTree(root: string): Promise<void> {
  const dirs = ['', 'Dokumente', 'Dokumente/Übersicht 2024', 'photos/raw/été', 'deep/a/b/c/d', 'spaces in name', '日本語'];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  await mkdir(join(root, 'empty folder'), { recursive: true });
  await mkdir(join(root, 'deep/also empty'), { recursive: true });
  for (let i = 0; i < 300; i++) {
    const d = dirs[i % dirs.length]!;
    const name = [`file ${i}.txt`, `naïve-${i}.md`, `テスト${i}.dat`, `Ärger & Co ${i}.bin`][i % 4]!;
    const body = Buffer.concat([Buffer.from(`${MARK}${i}\n`), bytesOf((i * 7919) % 70_000, i + 1)]);
    await writeFile(join(root, d, name), body);
  }
  await writeFile(join(root, 'deep/big.bin'), Buffer.concat([Buffer.from(`${MARK}big\n`), bytesOf(BIG_BYTES, 7)]));
}

async function storedFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

const apacheMissing = apacheAvailable();
if (!missing && apacheMissing) console.warn(`skipping the Apache-backend variant of the sync client interop: ${apacheMissing}`);

// Local storage (the gateway can keep mtimes) and Apache mod_dav (it cannot: X-OC-Mtime is not accepted).
for (const storage of ['local', 'apache'] as const) describe.skipIf(!!missing || (storage === 'apache' && !!apacheMissing))(`nextcloudcmd and owncloudcmd against the encrypted gateway (${storage} backend)`, () => {
  let gw: TestGateway;
  let apache: ApacheServer | undefined;
  let work: string;
  let storageRoot: string;
  const user = 'alice';
  const password = 'nc pw/+:ü';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'davcrypt-nc-'));
    if (storage === 'apache') {
      apache = await startApache({ root: join(work, 'apache-share'), user: 'svc', password: 'svc-pw' });
      gw = await startTestGateway({ users: { [user]: password }, store: 'memory', backend: { webdavUrl: apache.url + '{user}/', username: 'svc', password: 'svc-pw' } });
      storageRoot = join(work, 'apache-share', user);
    } else {
      gw = await startTestGateway({ users: { [user]: password }, store: 'memory' });
      storageRoot = join(gw.storageRoot, user);
    }
    for (const d of ['nc', 'oc', 'fresh']) await mkdir(join(work, d));
    await makeTree(join(work, 'nc'));
  });
  afterAll(async () => {
    await gw?.close();
    await apache?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const sync = async (bin: 'nextcloudcmd' | 'owncloudcmd', dir: string) => {
    const r = await runSync(bin, join(work, dir), gw.url, user, password);
    expect(r.code, `${bin} ${dir} failed:\n${r.out}`).toBe(0);
  };

  it('nextcloudcmd uploads the tree and owncloudcmd downloads the same bytes', async () => {
    await sync('nextcloudcmd', 'nc');
    await sync('owncloudcmd', 'oc');
    const [nc, oc] = await Promise.all([readTree(join(work, 'nc')), readTree(join(work, 'oc'))]);
    expect(nc.size).toBeGreaterThan(300);
    expect(treeDiff(nc, oc)).toEqual([]);
    expect(oc.get('empty folder')).toBe('dir');
    expect((oc.get('deep/big.bin') as Buffer).length).toBe(BIG_BYTES + `${MARK}big\n`.length);
  });

  it('changes and deletions on both sides meet after syncing again', async () => {
    const oc = join(work, 'oc');
    const nc = join(work, 'nc');
    // ownCloud side: change two files (one grows), delete a file and a folder, add a nested file.
    await writeFile(join(oc, 'file 0.txt'), 'changed by owncloud\n');
    await writeFile(join(oc, 'Dokumente/naïve-1.md'), bytesOf(200_000, 99));
    await rm(join(oc, '日本語/Ärger & Co 27.bin'));
    await rm(join(oc, 'spaces in name'), { recursive: true });
    await mkdir(join(oc, 'new/from oc'), { recursive: true });
    await writeFile(join(oc, 'new/from oc/hello ü.txt'), 'hello from owncloud\n');
    // Big enough for owncloudcmd's chunked upload (it names chunks by byte offset, nextcloudcmd by index).
    await writeFile(join(oc, 'new/from oc/big from oc.bin'), Buffer.concat([Buffer.from(`${MARK}oc-big\n`), bytesOf(24 * 1024 * 1024, 11)]));
    await sync('owncloudcmd', 'oc');
    // Nextcloud side: other changes, then one sync fetches the ownCloud side's and sends its own.
    await writeFile(join(nc, 'photos/raw/été/テスト2.dat'), 'changed by nextcloud\n');
    await rm(join(nc, 'deep/a/b/c/d'), { recursive: true });
    await rm(join(nc, 'empty folder'), { recursive: true });
    await writeFile(join(nc, 'Dokumente/Übersicht 2024/neu.txt'), 'new from nextcloud\n');
    await sync('nextcloudcmd', 'nc');
    await sync('owncloudcmd', 'oc');
    await sync('nextcloudcmd', 'fresh');
    const [a, b, c] = await Promise.all([readTree(nc), readTree(oc), readTree(join(work, 'fresh'))]);
    expect(treeDiff(a, b)).toEqual([]);
    expect(treeDiff(a, c)).toEqual([]);
    expect(String(a.get('file 0.txt'))).toBe('changed by owncloud\n');
    expect(String(b.get('photos/raw/été/テスト2.dat'))).toBe('changed by nextcloud\n');
    expect(String(b.get('Dokumente/Übersicht 2024/neu.txt'))).toBe('new from nextcloud\n');
    expect(String(a.get('new/from oc/hello ü.txt'))).toBe('hello from owncloud\n');
    expect((a.get('new/from oc/big from oc.bin') as Buffer).length).toBe(24 * 1024 * 1024 + `${MARK}oc-big\n`.length);
    for (const gone of ['spaces in name', '日本語/Ärger & Co 27.bin', 'deep/a/b/c/d', 'empty folder']) {
      expect(a.has(gone), gone).toBe(false);
      expect(b.has(gone), gone).toBe(false);
    }
  });

  it('the backend holds ciphertext only, and no upload chunks are left behind', async () => {
    const files = await storedFiles(storageRoot);
    expect(files.length).toBeGreaterThan(200);
    for (const f of files) {
      const body = await readFile(f);
      expect(body.includes(MARK), f).toBe(false);
      expect(body.includes('changed by'), f).toBe(false);
    }
    const uploads = files.filter((f) => f.includes('/.davcrypt/uploads/'));
    expect(uploads).toEqual([]);
  });
});

// A shared mount below the home (/team): it appears as a mount point in the home's listing, which
// needs an ETag, id, permissions and a modification time of its own or nextcloudcmd refuses it.
describe.skipIf(!!missing)('nextcloudcmd with a shared mount inside the home', () => {
  let gw: TestGateway;
  let work: string;
  beforeAll(async () => {
    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' }, store: 'memory',
      mounts: [
        { path: '/', backend: { type: 'local', root: 'storage/{user}' } },
        { path: '/team', users: ['alice', 'bob'], backend: { type: 'local', root: 'storage-team' } },
      ],
    });
    work = await mkdtemp(join(tmpdir(), 'davcrypt-nc-team-'));
    for (const d of ['alice', 'bob']) await mkdir(join(work, d));
  });
  afterAll(async () => {
    await gw?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const sync = async (who: 'alice' | 'bob') => {
    const r = await runSync('nextcloudcmd', join(work, who), gw.url, who, `${who}-pw`);
    expect(r.code, `nextcloudcmd ${who} failed:\n${r.out}`).toBe(0);
  };

  it('two users exchange files through the shared mount; homes stay apart', async () => {
    await mkdir(join(work, 'alice', 'team', 'sub'), { recursive: true });
    await writeFile(join(work, 'alice', 'team', 'sub', 'shared.txt'), 'from alice');
    await writeFile(join(work, 'alice', 'mine.txt'), 'only alice');
    await sync('alice');
    await sync('bob');
    expect(await readFile(join(work, 'bob', 'team', 'sub', 'shared.txt'), 'utf8')).toBe('from alice');
    await expect(readFile(join(work, 'bob', 'mine.txt'))).rejects.toThrow();
    await writeFile(join(work, 'bob', 'team', 'bob.txt'), 'from bob');
    await rm(join(work, 'bob', 'team', 'sub', 'shared.txt'));
    await sync('bob');
    await sync('alice');
    expect(await readFile(join(work, 'alice', 'team', 'bob.txt'), 'utf8')).toBe('from bob');
    await expect(readFile(join(work, 'alice', 'team', 'sub', 'shared.txt'))).rejects.toThrow();
    const stored = await storedFiles(join(gw.root, 'storage-team'));
    for (const f of stored) expect((await readFile(f)).includes('from bob'), f).toBe(false);
  });
});
