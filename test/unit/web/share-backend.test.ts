// ShareBackend confines a link to what it shares: a file link shows only its file, a
// folder link only its subtree; scopes refuse what they do not allow; a drop never
// overwrites. Over a local backend in a temp folder.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalBackend, type Backend } from '../../../src/backends/index.js';
import { ShareBackend, type ShareView } from '../../../src/web/share-backend.js';

let root: string;
let inner: Backend;
const downloads: string[] = [];

function view(v: Partial<ShareView>): ShareView {
  return { scope: 'read', root: '/', beforeDownload: async (p) => { downloads.push(p); }, afterUpload: () => undefined, ...v };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'davcrypt-share-backend-'));
  await mkdir(join(root, 'docs'));
  await writeFile(join(root, 'docs', 'shared.txt'), 'shared');
  await writeFile(join(root, 'docs', 'private.txt'), 'private');
  await writeFile(join(root, 'top.txt'), 'top');
  inner = await createLocalBackend(root);
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

describe('ShareBackend', () => {
  it('a file link shows only its file', async () => {
    const b = new ShareBackend(inner, view({ root: '/docs', file: 'shared.txt' }));
    expect((await b.list('/')).map((e) => [e.name, e.path])).toEqual([['shared.txt', '/shared.txt']]);
    expect(await code(b.stat('/private.txt'))).toBe('DC_ERR_NOT_FOUND');
    expect(await code(b.read('/private.txt'))).toBe('DC_ERR_NOT_FOUND');
    const r = await b.read('/shared.txt');
    r.body.resume();
    expect(downloads).toEqual(['/shared.txt']);
    expect(await code(b.write('/x.txt', Readable.from(['x'])))).toBe('DC_ERR_FORBIDDEN');
  });

  it('a read link to a folder reads its subtree and changes nothing', async () => {
    const b = new ShareBackend(inner, view({ root: '/docs' }));
    expect((await b.list('/')).map((e) => e.name).sort()).toEqual(['private.txt', 'shared.txt']);
    expect(await code(b.stat('/top.txt'))).toBe('DC_ERR_NOT_FOUND');
    for (const op of [b.write('/n.txt', Readable.from(['n'])), b.mkdir('/d'), b.delete('/shared.txt'), b.move('/shared.txt', '/m.txt'), b.copy('/shared.txt', '/c.txt')]) {
      expect(await code(op)).toBe('DC_ERR_FORBIDDEN');
    }
  });

  it('a drop adds files, never reads, lists or overwrites', async () => {
    const b = new ShareBackend(inner, view({ root: '/docs', scope: 'drop' }));
    expect(await b.list('/')).toEqual([]);
    expect(await code(b.read('/shared.txt'))).toBe('DC_ERR_FORBIDDEN');
    expect(await code(b.write('/shared.txt', Readable.from(['overwrite'])))).toBe('DC_ERR_EXISTS');
    expect(await code(b.write('/new.txt', Readable.from(['new'])))).toBe('ok');
    expect(await code(b.delete('/new.txt'))).toBe('DC_ERR_FORBIDDEN');
  });

  it('a read-write link cannot delete or move its own root', async () => {
    const b = new ShareBackend(inner, view({ root: '/docs', scope: 'readwrite' }));
    expect(await code(b.delete('/'))).toBe('DC_ERR_FORBIDDEN');
    expect(await code(b.move('/', '/elsewhere'))).toBe('DC_ERR_FORBIDDEN');
    expect(await code(b.copy('/shared.txt', '/copy.txt'))).toBe('ok');
  });
});
