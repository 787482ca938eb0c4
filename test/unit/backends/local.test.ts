import { mkdir, readdir, symlink, writeFile, stat as fsStat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMP_PREFIX as LOCAL_TEMP_PREFIX } from '../../../src/backends/layout.js';
import { LocalBackend, contentTypeFor, createLocalBackend } from '../../../src/backends/local.js';
import { backendConformance } from '../../conformance/backend.js';
import { bodyOf, expectCode, readAll } from '../../conformance/helpers.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

backendConformance('local', async () => {
  const tmp = await makeTempDir('local-conf');
  const root = join(tmp.path, 'root');
  return { backend: await createLocalBackend(root), cleanup: tmp.cleanup, rawRoot: root, exactSizes: true };
});

describe('LocalBackend specifics', () => {
  let tmp: TempDir;
  let root: string;
  let b: LocalBackend;
  beforeAll(async () => {
    tmp = await makeTempDir('local');
    root = join(tmp.path, 'home', 'alice');
    b = new LocalBackend(root);
    await mkdir(join(tmp.path, 'outside'));
    await writeFile(join(tmp.path, 'outside', 'secret.txt'), 'secret');
  });
  afterAll(() => tmp.cleanup());

  it('creates the root on first use', async () => {
    expect((await b.stat('/')).type).toBe('directory');
    expect((await fsStat(root)).isDirectory()).toBe(true);
    expect(b.name).toBe(`local:${root}`);
  });

  it('refuses paths climbing out of the root', async () => {
    await expectCode(b.stat('/../outside/secret.txt'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.write('/../escape.txt', bodyOf('x')), 'DC_ERR_FORBIDDEN');
    await expectCode(b.read('/a/../../outside/secret.txt'), 'DC_ERR_FORBIDDEN');
  });

  it('refuses symlinks leading out of the root and hides them from listings', async () => {
    await symlink(join(tmp.path, 'outside'), join(root, 'link-dir'));
    await symlink(join(tmp.path, 'outside', 'secret.txt'), join(root, 'link-file'));
    await expectCode(b.read('/link-file'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.stat('/link-dir/secret.txt'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.list('/link-dir'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.write('/link-dir/new.txt', bodyOf('x')), 'DC_ERR_FORBIDDEN');
    await expectCode(b.mkdir('/link-dir/sub'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.copy('/link-file', '/copied'), 'DC_ERR_FORBIDDEN');
    const names = (await b.list('/')).map((e) => e.name);
    expect(names).not.toContain('link-dir');
    expect(names).not.toContain('link-file');
    expect(await readdir(join(tmp.path, 'outside'))).toEqual(['secret.txt']);
  });

  it('follows symlinks that stay inside the root', async () => {
    await mkdir(join(root, 'real'));
    await writeFile(join(root, 'real', 'x.txt'), 'inside');
    await symlink(join(root, 'real'), join(root, 'alias'));
    expect((await readAll((await b.read('/alias/x.txt')).body)).toString()).toBe('inside');
  });

  it('hides temp files from list and stat', async () => {
    await mkdir(join(root, 'tmpcheck'));
    await writeFile(join(root, 'tmpcheck', `${LOCAL_TEMP_PREFIX}abc`), 'partial');
    await writeFile(join(root, 'tmpcheck', 'real.txt'), 'r');
    expect((await b.list('/tmpcheck')).map((e) => e.name)).toEqual(['real.txt']);
    await expectCode(b.stat(`/tmpcheck/${LOCAL_TEMP_PREFIX}abc`), 'DC_ERR_NOT_FOUND');
    await expectCode(b.write(`/tmpcheck/${LOCAL_TEMP_PREFIX}x`, bodyOf('x')), 'DC_ERR_FORBIDDEN');
  });

  it('uses quoted strong etags and guesses content types', async () => {
    const info = await b.write('/doc.pdf', bodyOf('%PDF'), { size: 4 });
    expect(info.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(info.contentType).toBe('application/pdf');
    expect(contentTypeFor('A.JPG')).toBe('image/jpeg');
    expect(contentTypeFor('noext')).toBe('application/octet-stream');
  });

  it('rejects a body shorter than the declared size and keeps the old file', async () => {
    await b.write('/sized.txt', bodyOf('old'));
    await expectCode(b.write('/sized.txt', bodyOf('abc'), { size: 10 }), 'DC_ERR_BAD_REQUEST');
    expect((await readAll((await b.read('/sized.txt')).body)).toString()).toBe('old');
  });

  it('refuses to delete or move the root', async () => {
    await expectCode(b.delete('/'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.move('/', '/x'), 'DC_ERR_FORBIDDEN');
    await mkdir(join(root, 'p'));
    await expectCode(b.move('/p', '/p/inside'), 'DC_ERR_FORBIDDEN');
    await expectCode(b.mkdir('/'), 'DC_ERR_EXISTS');
  });

  it('reports quota from statfs', async () => {
    const q = await b.quota('/');
    expect(q.available).toBeGreaterThan(0);
    expect(q.used).toBeGreaterThan(0);
  });
});
