// createStoreMutex on the single-host stores: SqliteMutex serializes read-modify-write
// across separate processes on one sqlite file (the CLI next to the gateway), survives a
// dead holder (lease), never deletes a newer holder's row; LocalMutex (memory://, or
// sharedBy 'instances' on sqlite) runs names in parallel and frees a name after a throw.
// The Redis variant is tested in test/interop.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeStore, createStore, sqliteStoreOf } from '../../src/store.js';
import { createStoreMutex, LocalMutex, SqliteMutex } from '../../src/store-mutex.js';
import { makeTempDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A child process doing `rounds` locked increments of 'counter' in the sqlite store. */
const WORKER = `
import { closeStore, createStore } from ${JSON.stringify(join(REPO, 'src/store.ts'))};
import { createStoreMutex } from ${JSON.stringify(join(REPO, 'src/store-mutex.ts'))};
const [file, rounds] = process.argv.slice(2);
const store = await createStore('sqlite://' + file);
const mutex = createStoreMutex(store, { waitMs: 60_000 });
for (let i = 0; i < Number(rounds); i++) {
  await mutex.run('counter', async () => {
    const n = (await store.get('counter')) ?? 0;
    await new Promise((r) => setTimeout(r, 2));
    await store.set('counter', n + 1);
  });
}
await closeStore(store);
`;

function runWorker(script: string, file: string, rounds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, file, String(rounds)], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}: ${err.slice(-2000)}`))));
  });
}

describe('SqliteMutex (sqlite://, default sharedBy processes)', () => {
  it('3 processes x 10 locked increments on one sqlite file lose no update', async () => {
    const tmp = await makeTempDir('mutex-procs');
    try {
      const file = join(tmp.path, 'davcrypt.sqlite');
      const script = join(tmp.path, 'worker.mts');
      await writeFile(script, WORKER);
      const store = await createStore(`sqlite://${file}`);
      expect(createStoreMutex(store)).toBeInstanceOf(SqliteMutex);
      await closeStore(store);
      await Promise.all(Array.from({ length: 3 }, () => runWorker(script, file, 10)));
      const check = await createStore(`sqlite://${file}`);
      expect(await check.get('counter')).toBe(30);
      // Every lease row was given back.
      const db = sqliteStoreOf(check)!;
      expect(await db.query(`SELECT key FROM ${db.table} WHERE key LIKE ?`, `${db.keyPrefix}__mutex:%`)).toEqual([]);
      await closeStore(check);
    } finally {
      await tmp.cleanup();
    }
  }, 120_000);

  it('waits out a dead holder\'s lease; a stale release leaves the new holder alone; busy → DC_ERR_INTERNAL', async () => {
    const tmp = await makeTempDir('mutex-lease');
    const store = await createStore(`sqlite://${join(tmp.path, 's.sqlite')}`);
    try {
      const db = sqliteStoreOf(store)!;
      const m = new SqliteMutex(db, { leaseMs: 300 });
      const key = m.keyOf('k');
      await db.query(`INSERT INTO ${db.table} (key, value) VALUES (?, ?)`, key, JSON.stringify({ token: 'dead', expiresAt: Date.now() + 300 }));
      await expect(m.run('k', async () => 1, { waitMs: 100 })).rejects.toMatchObject({ code: 'DC_ERR_INTERNAL' });
      const t0 = Date.now();
      await m.run('k', async () => {
        expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
        await db.query(`DELETE FROM ${db.table} WHERE key = ? AND json_extract(value, '$.token') = ?`, key, 'dead');
        expect(await db.query(`SELECT key FROM ${db.table} WHERE key = ?`, key)).toHaveLength(1);
        await sleep(500); // longer than the lease: renewal keeps it
        const other = new SqliteMutex(db, { leaseMs: 300 });
        await expect(other.run('k', async () => 1, { waitMs: 50 })).rejects.toMatchObject({ code: 'DC_ERR_INTERNAL' });
      }, { waitMs: 3000 });
      expect(await db.query(`SELECT key FROM ${db.table} WHERE key = ?`, key)).toEqual([]);
    } finally {
      await closeStore(store);
      await tmp.cleanup();
    }
  });
});

describe('LocalMutex', () => {
  it('is what memory:// and sharedBy instances on sqlite:// get', async () => {
    const tmp = await makeTempDir('mutex-pick');
    const mem = await createStore('memory://');
    const lite = await createStore(`sqlite://${join(tmp.path, 's.sqlite')}`);
    expect(createStoreMutex(mem)).toBeInstanceOf(LocalMutex);
    expect(createStoreMutex(lite, { sharedBy: 'instances' })).toBeInstanceOf(LocalMutex);
    await closeStore(mem);
    await closeStore(lite);
    await tmp.cleanup();
  });

  it('different names do not wait for each other; a throw is rethrown and frees the name', async () => {
    const store = await createStore('memory://');
    const mutex = createStoreMutex(store);
    const order: string[] = [];
    let releaseA!: () => void;
    const holdA = mutex.run('a', () => new Promise<void>((r) => { releaseA = r; order.push('a-start'); }));
    await mutex.run('b', async () => { order.push('b'); });
    releaseA();
    await holdA;
    expect(order).toEqual(['a-start', 'b']);
    await expect(mutex.run('a', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await mutex.run('a', async () => 42)).toBe(42);
    await closeStore(store);
  });
});
