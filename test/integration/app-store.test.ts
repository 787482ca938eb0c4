// createStore for each URL scheme: sqlite (parent folder created, data survives
// a reopen, file mode 0600), memory, redis (a real redis-server on a random
// loopback port when the binary exists; skipped with a reason otherwise), and
// the errors for unknown or unreachable stores.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeStore, createStore } from '../../src/store.js';
import { freePort, stopChild } from '../helpers/server-process.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.log('app-store: redis-server not installed; redis:// test skipped');

describe('createStore', () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir('store');
  });
  afterAll(async () => tmp.cleanup());

  it('sqlite://PATH creates the parent folder, persists across reopen, is owner-only', async () => {
    const file = join(tmp.path, 'deep', 'er', 'davcrypt.sqlite');
    const a = await createStore(`sqlite://${file}`);
    await a.set('user:alice', { name: 'alice' });
    await closeStore(a);
    await closeStore(a); // twice is fine
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const b = await createStore(`sqlite://${file}`);
    expect(await b.get('user:alice')).toEqual({ name: 'alice' });
    const other = await createStore(`sqlite://${file}`, 'other-namespace');
    expect(await other.get('user:alice')).toBeUndefined();
    await closeStore(other);
    await closeStore(b);
  });

  it('memory:// is empty on every open', async () => {
    const a = await createStore('memory://');
    await a.set('k', 1);
    expect(await a.get('k')).toBe(1);
    const b = await createStore('memory://');
    expect(await b.get('k')).toBeUndefined();
    await closeStore(a);
    await closeStore(b);
  });

  it('unknown schemes and unreachable redis are DC_ERR_CONFIG', async () => {
    await expect(createStore('mysql://x')).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
    const port = await freePort();
    await expect(createStore(`redis://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
  });

  describe.skipIf(!hasRedis)('redis', () => {
    let redis: ChildProcess;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        try {
          await closeStore(await createStore(`redis://127.0.0.1:${port}`));
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error('redis-server did not start');
    });
    afterAll(async () => {
      if (redis) await stopChild(redis);
    });

    it('redis://HOST:PORT shares data between two connections', async () => {
      const a = await createStore(`redis://127.0.0.1:${port}`);
      const b = await createStore(`redis://127.0.0.1:${port}`);
      await a.set('keyring:home:alice', '{"x":1}');
      expect(await b.get('keyring:home:alice')).toBe('{"x":1}');
      const c = await createStore(`redis://127.0.0.1:${port}`, 'elsewhere');
      expect(await c.get('keyring:home:alice')).toBeUndefined();
      await Promise.all([closeStore(a), closeStore(b), closeStore(c)]);
    });
  });
});
