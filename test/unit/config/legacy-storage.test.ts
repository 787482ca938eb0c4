// The layout guard: stored files left in <dataDir>/storage by the earlier default stop the
// start with the one-line fix, instead of serving every user an empty home on ./storage.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, assertNoLegacyStorage, loadConfig, resolveConfig } from '../../../src/config/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

function configError(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('expected DC_ERR_CONFIG');
}

describe('assertNoLegacyStorage', () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await makeTempDir('legacy');
  });
  afterEach(() => tmp.cleanup());

  it('a fresh working directory starts (nothing in data/storage)', async () => {
    const config = await loadConfig(DEFAULT_CONFIG_PATH, { cwd: tmp.path, env: {} });
    expect(() => assertNoLegacyStorage(config)).not.toThrow();
  });

  it('files in data/storage with the new default: refused, naming the mv that fixes it', async () => {
    mkdirSync(join(tmp.path, 'data/storage/alice/.davcrypt'), { recursive: true });
    writeFileSync(join(tmp.path, 'data/storage/alice/.davcrypt/keyring.json'), '{}');
    const config = await loadConfig(DEFAULT_CONFIG_PATH, { cwd: tmp.path, env: {} });
    const message = configError(() => assertNoLegacyStorage(config));
    expect(message).toContain(`mv ${join(tmp.path, 'data/storage')} ${join(tmp.path, 'storage')}`);
    expect(message).toContain('{dataDir}/storage/{user}');
    // Both places hold files: no mv is suggested (it would nest one inside the other).
    mkdirSync(join(tmp.path, 'storage/bob'), { recursive: true });
    expect(configError(() => assertNoLegacyStorage(config))).toMatch(/both .* hold files: merge them by hand/);
  });

  it('a config that keeps the old place on purpose starts', () => {
    mkdirSync(join(tmp.path, 'data/storage/alice'), { recursive: true });
    const config = resolveConfig(
      { dataDir: './data', mounts: [{ path: '/', backend: { type: 'local', root: '{dataDir}/storage/{user}' } }] },
      { cwd: tmp.path, env: {} },
    );
    expect(() => assertNoLegacyStorage(config)).not.toThrow();
  });
});
