// encrypt-all over many already-encrypted files (all skipped after peeking at their
// header) must release every source file handle at once: open file descriptors do not
// grow with the file count, and Node never has to close one on garbage collection.
// Same for verify over plaintext files, and peekHead's replay stream destroyed unread.
import { readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../../src/backends/index.js';
import { createMountKeySet } from '../../../src/keys/index.js';
import { IdentityUnlocker } from '../../../src/tools/identity-keys.js';
import { KeyScopes } from '../../../src/tools/key-scopes.js';
import { migrateTree } from '../../../src/tools/migrate.js';
import { peekHead } from '../../../src/tools/streams.js';
import { verifyTree } from '../../../src/tools/verify.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { buildMount, patternBytes } from './fixture.js';

const FILE_COUNT = 300;
const openFds = () => readdirSync('/proc/self/fd').length;

let tmp: TempDir;
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
beforeEach(async () => {
  tmp = await makeTempDir('tools-migrate-fds');
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(async () => {
  process.off('warning', onWarning);
  await tmp.cleanup();
});

describe('migrateTree file handles', () => {
  it.skipIf(process.platform !== 'linux')(`skipping ${FILE_COUNT} encrypted files leaves no file handle open`, async () => {
    const store = join(tmp.path, 'store');
    const files: Record<string, Buffer> = {};
    // Bigger than one read chunk (64 KiB), so the rest of each body stays unread after the peek.
    for (let i = 0; i < FILE_COUNT; i++) files[`/d${i % 10}/f${i}.bin`] = patternBytes(70_000 + i, i);
    const built = await buildMount(store, { identities: { 'user:alice': 'pw' }, files });
    const backend = new LocalBackend(store);
    const before = openFds();
    const report = await migrateTree({ backend, keys: createMountKeySet([built.key], built.key), direction: 'encrypt' });
    expect(report).toMatchObject({ files: FILE_COUNT, converted: 0, skipped: FILE_COUNT, failed: [] });
    await new Promise((r) => setTimeout(r, 50)); // let close callbacks run
    expect(openFds() - before).toBeLessThan(20);
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
    expect(warnings.filter((w) => /on garbage collection/.test(w.message))).toEqual([]);
    await backend.close();
  });

  it.skipIf(process.platform !== 'linux')(`verify over ${FILE_COUNT} plaintext files leaves no file handle open`, async () => {
    const store = join(tmp.path, 'store');
    const plain: Record<string, Buffer> = {};
    for (let i = 0; i < FILE_COUNT; i++) plain[`/p${i}.bin`] = patternBytes(70_000, i);
    await buildMount(store, { identities: { 'user:alice': 'pw' }, plain });
    const backend = new LocalBackend(store);
    const before = openFds();
    const scopes = new KeyScopes(backend, new IdentityUnlocker('user:alice', 'pw'));
    const report = await verifyTree({ source: backend, scopes, plaintext: 'read' });
    scopes.wipe();
    expect(report).toMatchObject({ files: FILE_COUNT, plaintext: FILE_COUNT, failed: [] });
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds() - before).toBeLessThan(20);
    await backend.close();
  });

  it('destroying peekHead\'s unread replay stream destroys the body', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(100, 1));
    const { head, stream } = await peekHead(body, 8);
    expect(head.length).toBeGreaterThanOrEqual(8);
    stream.destroy();
    await new Promise((r) => setImmediate(r));
    expect(body.destroyed).toBe(true);
  });
});
