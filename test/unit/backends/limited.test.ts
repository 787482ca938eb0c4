// LimitedBackend (per-user backend request slots): the shared conformance suite over
// LimitedBackend(EncryptingBackend(local)), and the slot rules: a read holds its slot until its
// body closes, waiting is bounded (DC_ERR_BACKEND_UNAVAILABLE) and abortable (DC_ERR_ABORTED).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EncryptingBackend } from '../../../src/backends/encrypting.js';
import { LimitedBackend, RequestSlots } from '../../../src/backends/limited.js';
import { createLocalBackend } from '../../../src/backends/local.js';
import { newMountKey } from '../../../src/crypto/index.js';
import { createMountKeySet } from '../../../src/keys/keyset.js';
import { backendConformance } from '../../conformance/backend.js';
import { bodyOf, expectCode, readAll } from '../../conformance/helpers.js';
import { makeTempDir } from '../../helpers/tmp.js';

backendConformance('limited(encrypting(local))', async () => {
  const tmp = await makeTempDir('limited-conf');
  const root = join(tmp.path, 'root');
  const key = newMountKey();
  const inner = new EncryptingBackend(await createLocalBackend(root), createMountKeySet([key], key));
  return { backend: new LimitedBackend(inner, new RequestSlots(4, 5_000)), cleanup: tmp.cleanup, rawRoot: root };
});

describe('RequestSlots and LimitedBackend', () => {
  it('a read holds its slot until the body is closed; the next waits, then runs', async () => {
    const tmp = await makeTempDir('limited');
    try {
      const slots = new RequestSlots(1, 2_000);
      const b = new LimitedBackend(await createLocalBackend(join(tmp.path, 'r')), slots);
      await b.write('/a.txt', bodyOf('hello'), { size: 5 });
      const first = await b.read('/a.txt');
      expect(slots.active).toBe(1);
      let statDone = false;
      const stat = b.stat('/a.txt').then((e) => { statDone = true; return e; });
      await new Promise((r) => setTimeout(r, 100));
      expect(statDone).toBe(false);
      expect((await readAll(first.body)).toString()).toBe('hello');
      expect((await stat).size).toBe(5);
      await new Promise((r) => setTimeout(r, 10));
      expect(slots.active).toBe(0);
    } finally {
      await tmp.cleanup();
    }
  });

  it('waiting is bounded (DC_ERR_BACKEND_UNAVAILABLE) and abortable (DC_ERR_ABORTED)', async () => {
    const slots = new RequestSlots(1, 150);
    const release = await slots.acquire();
    const started = Date.now();
    await expectCode(slots.acquire(), 'DC_ERR_BACKEND_UNAVAILABLE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const ac = new AbortController();
    const waiting = slots.acquire(ac.signal);
    ac.abort();
    await expectCode(waiting, 'DC_ERR_ABORTED');
    release();
    expect(slots.active).toBe(0);
    const again = await slots.acquire();
    expect(slots.active).toBe(1);
    again();
  });
});
