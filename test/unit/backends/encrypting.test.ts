// EncryptingBackend over a real LocalBackend in a temp folder: the shared conformance suite
// (plaintext sizes), plus what only the decorator does: ciphertext at rest, range reads that
// fetch only the needed segments, plaintext files refused or (plaintext: read) served as they are, tamper errors.
import { renameSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptingBackend, couldBeCipherSize, maskCapabilities } from '../../../src/backends/encrypting.js';
import { LruEncryptionMetaCache } from '../../../src/backends/encryption-meta.js';
import { createLocalBackend } from '../../../src/backends/local.js';
import type { Backend, BackendCapabilities, ReadOptions, ReadResult } from '../../../src/backends/types.js';
import { cipherSizeForPlain, hasMagic, newMountKey, parseHeader } from '../../../src/crypto/index.js';
import { createMountKeySet } from '../../../src/keys/keyset.js';
import { backendConformance } from '../../conformance/backend.js';
import { bodyOf, expectCode, readAll } from '../../conformance/helpers.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

backendConformance('encrypting(local)', async () => {
  const tmp = await makeTempDir('enc-conf');
  const root = join(tmp.path, 'root');
  const key = newMountKey();
  const backend = new EncryptingBackend(await createLocalBackend(root), createMountKeySet([key], key));
  return { backend, cleanup: tmp.cleanup, rawRoot: root, exactSizes: true };
});

/** Counts what the wrapped backend is asked for: reads, ranged reads and body bytes delivered. */
class CountingBackend {
  reads: { path: string; range?: ReadOptions['range'] }[] = [];
  bytes = 0;
  constructor(readonly inner: Backend) {}
  wrap(): Backend {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === 'read') {
          return async (path: string, opts?: ReadOptions): Promise<ReadResult> => {
            this.reads.push({ path, range: opts?.range });
            const r = await target.read(path, opts);
            r.body.on('data', (c: Buffer) => (this.bytes += c.length));
            return r;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }
  reset(): void {
    this.reads = [];
    this.bytes = 0;
  }
}

async function errorOf(stream: Readable): Promise<{ code?: string; details?: Record<string, unknown>; data: Buffer }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of stream) parts.push(c as Buffer);
    return { data: Buffer.concat(parts) };
  } catch (err) {
    return { ...(err as { code?: string; details?: Record<string, unknown> }), data: Buffer.concat(parts) };
  }
}


/** `inner` whose reads wait `delayMs` first; `onRead` runs at the start of each and returns what runs at its end. */
function slowReads(inner: Backend, delayMs: number, onRead: () => () => void): Backend {
  return new Proxy(inner, {
    get: (t, prop) => {
      if (prop === 'read') {
        return async (p: string, o?: ReadOptions) => {
          const after = onRead();
          await new Promise((r) => setTimeout(r, delayMs));
          try {
            return await t.read(p, o);
          } finally {
            after();
          }
        };
      }
      const v = Reflect.get(t, prop);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

describe('EncryptingBackend specifics', () => {
  let tmp: TempDir;
  let root: string;
  let counter: CountingBackend;
  let enc: EncryptingBackend;
  const key = newMountKey();
  const oldKey = newMountKey();
  const S = 65536;
  const big = Buffer.alloc(5 * S + 1234);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;

  beforeAll(async () => {
    tmp = await makeTempDir('enc');
    root = join(tmp.path, 'root');
    counter = new CountingBackend(await createLocalBackend(root));
    enc = new EncryptingBackend(counter.wrap(), createMountKeySet([key, oldKey], key));
    await enc.write('/big.bin', bodyOf(big), { size: big.length });
  });
  afterAll(() => tmp.cleanup());

  it('stores ciphertext: magic, current key id, cipher size; no plaintext run on disk', async () => {
    const raw = await readFile(join(root, 'big.bin'));
    expect(hasMagic(raw)).toBe(true);
    expect(parseHeader(raw).keyId.equals(key.id)).toBe(true);
    expect(raw.length).toBe(cipherSizeForPlain(big.length));
    expect(raw.includes(big.subarray(1000, 1032))).toBe(false);
    expect((await enc.stat('/big.bin')).size).toBe(big.length);
    expect(enc.name).toMatch(/^encrypting:local:/);
    expect(enc.capabilities).toEqual(counter.inner.capabilities);
  });

  it('range reads at segment boundaries fetch only the needed segments', async () => {
    const cases: [number, number][] = [
      [0, 0],
      [S - 1, S],
      [S, 2 * S - 1],
      [3 * S + 5, 3 * S + 5],
      [5 * S, 5 * S + 1233],
      [2 * S - 10, 4 * S + 10],
    ];
    for (const [a, b] of cases) {
      counter.reset();
      const r = await enc.read('/big.bin', { range: { start: a, end: b } });
      const got = await readAll(r.body);
      expect(got.equals(big.subarray(a, b + 1)), `range ${a}-${b}`).toBe(true);
      expect(r.range).toEqual({ start: a, end: b });
      expect(r.info.size).toBe(big.length);
      const first = Math.floor(a / S);
      const last = Math.floor(b / S);
      const cipherSize = cipherSizeForPlain(big.length);
      const spanStart = 65 + first * (S + 32);
      const spanEnd = Math.min(65 + (last + 1) * (S + 32), cipherSize) - 1;
      // The header is cached from the write, so only the span is read.
      expect(counter.reads).toEqual([{ path: '/big.bin', range: { start: spanStart, end: spanEnd } }]);
      expect(counter.bytes).toBe(spanEnd - spanStart + 1);
    }
  });

  it('a cold cache costs one 65-byte header probe before the span', async () => {
    const cold = new EncryptingBackend(counter.wrap(), createMountKeySet([key], key), { metaCache: new LruEncryptionMetaCache(10) });
    counter.reset();
    const r = await cold.read('/big.bin', { range: { start: 2 * S, end: 2 * S + 99 } });
    expect((await readAll(r.body)).equals(big.subarray(2 * S, 2 * S + 100))).toBe(true);
    expect(counter.reads.map((x) => x.range)).toEqual([
      { start: 0, end: 64 },
      { start: 65 + 2 * (S + 32), end: 65 + 3 * (S + 32) - 1 },
    ]);
    expect(counter.bytes).toBe(65 + S + 32);
  });

  it('plaintext: read serves a plaintext file dropped into the backend as it is, with its real size', async () => {
    const reading = new EncryptingBackend(counter.wrap(), createMountKeySet([key, oldKey], key), { plaintext: 'read' });
    const sizes = [0, 10, 97, 98, 200, cipherSizeForPlain(1000)];
    for (const size of sizes) {
      const data = Buffer.alloc(size, 0x61);
      await writeFile(join(root, `plain-${size}.txt`), data);
      const st = await reading.stat(`/plain-${size}.txt`);
      expect(st.size, `size ${size}`).toBe(size);
      const r = await reading.read(`/plain-${size}.txt`);
      expect(r.info.size).toBe(size);
      expect((await readAll(r.body)).equals(data)).toBe(true);
      if (size > 20) {
        const part = await reading.read(`/plain-${size}.txt`, { range: { start: 5, end: 14 } });
        expect((await readAll(part.body)).equals(data.subarray(5, 15))).toBe(true);
      }
    }
    const listed = await reading.list('/');
    for (const size of sizes) expect(listed.find((e) => e.name === `plain-${size}.txt`)?.size).toBe(size);
    expect(listed.find((e) => e.name === 'big.bin')?.size).toBe(big.length);
  });

  it('plaintext: refuse (the default): a stored file without the magic is an error for read, range and stat', async () => {
    const sizes = [0, 10, 97, 98, 200, cipherSizeForPlain(1000)];
    for (const size of sizes) {
      await writeFile(join(root, `refused-${size}.txt`), Buffer.alloc(size, 0x61));
      await expectCode(enc.read(`/refused-${size}.txt`), 'DC_ERR_NOT_ENCRYPTED');
      if (size > 20) await expectCode(enc.read(`/refused-${size}.txt`, { range: { start: 5, end: 14 } }), 'DC_ERR_NOT_ENCRYPTED');
      const st = await enc.stat(`/refused-${size}.txt`);
      expect(st.integrityError?.code, `size ${size}`).toBe('DC_ERR_NOT_ENCRYPTED');
      expect(st.size).toBe(size); // the stored size, never a plaintext size computed from foreign bytes
    }
    // Cut inside the magic (an encrypted file shortened to 1..7 bytes): a bad header, never plaintext.
    const raw = await readFile(join(root, 'big.bin'));
    for (const n of [1, 5, 7]) {
      await writeFile(join(root, `cut-${n}.bin`), raw.subarray(0, n));
      await expectCode(enc.read(`/cut-${n}.bin`), 'DC_ERR_BAD_HEADER');
      expect((await enc.stat(`/cut-${n}.bin`)).integrityError?.code).toBe('DC_ERR_BAD_HEADER');
    }
    // A damaged magic on a whole encrypted file: its size is a valid cipher size, yet it is refused.
    const damaged = Buffer.from(raw);
    damaged[3] ^= 0x20;
    await writeFile(join(root, 'damaged-magic.bin'), damaged);
    await expectCode(enc.read('/damaged-magic.bin'), 'DC_ERR_NOT_ENCRYPTED');
    await expectCode(enc.read('/damaged-magic.bin', { range: { start: 0, end: 9 } }), 'DC_ERR_NOT_ENCRYPTED');
    expect((await enc.list('/')).find((e) => e.name === 'damaged-magic.bin')?.size).toBe(raw.length);
    // A good file carries no integrity error.
    expect((await enc.stat('/big.bin')).integrityError).toBeUndefined();
  });

  it('a file with the magic is never served as plaintext, in either mode, whatever its size', async () => {
    const reading = new EncryptingBackend(counter.wrap(), createMountKeySet([key, oldKey], key), { plaintext: 'read' });
    const raw = await readFile(join(root, 'big.bin'));
    for (const n of [8, 40, 64, 65, 96, 65 + (S + 32) + 5]) { // sizes no v1 file has
      await writeFile(join(root, `magic-${n}.bin`), raw.subarray(0, n));
      for (const b of [enc, reading]) {
        await expect(b.read(`/magic-${n}.bin`)).rejects.toMatchObject({ code: expect.stringMatching(/^DC_ERR_(BAD_HEADER|TRUNCATED)$/) });
        await expect(b.read(`/magic-${n}.bin`, { range: { start: 0, end: 3 } })).rejects.toMatchObject({ code: expect.stringMatching(/^DC_ERR_(BAD_HEADER|TRUNCATED)$/) });
        expect((await b.stat(`/magic-${n}.bin`)).integrityError?.code).toMatch(/^DC_ERR_(BAD_HEADER|TRUNCATED)$/);
      }
    }
  });

  it('list probes unknown files with bounded concurrency and caches the answer per etag', async () => {
    await enc.mkdir('/many');
    const inner = await createLocalBackend(root);
    for (let i = 0; i < 20; i++) await inner.write(`/many/p${i}`, bodyOf(Buffer.alloc(200, i)), { size: 200 });
    for (let i = 0; i < 5; i++) await new EncryptingBackend(inner, createMountKeySet([key], key)).write(`/many/e${i}`, bodyOf('secret'));
    let active = 0;
    let peak = 0;
    const slow = slowReads(inner, 10, () => {
      active++;
      peak = Math.max(peak, active);
      return () => { active--; };
    });
    const cache = new LruEncryptionMetaCache();
    const fresh = new EncryptingBackend(slow, createMountKeySet([key], key), { metaCache: cache, probeConcurrency: 3 });
    const entries = await fresh.list('/many');
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    expect(cache.size).toBe(25);
    for (const e of entries) expect(e.size).toBe(e.name.startsWith('p') ? 200 : 6);
    peak = 0;
    await fresh.list('/many');
    expect(peak).toBe(0);
  });

  it('a listing over its probe budget lists the rest by size arithmetic and probes them in the background', async () => {
    await enc.mkdir('/budget');
    const inner = await createLocalBackend(root);
    // 200 stored bytes is a valid davcrypt size (plaintext 103), so only a probe can tell these are plaintext.
    for (let i = 0; i < 12; i++) await inner.write(`/budget/p${i}`, bodyOf(Buffer.alloc(200, i)), { size: 200 });
    let reads = 0;
    const slow = slowReads(inner, 40, () => {
      reads++;
      return () => undefined;
    });
    const fresh = new EncryptingBackend(slow, createMountKeySet([key], key), { probeConcurrency: 2, probeBudgetMs: 50 });
    const started = Date.now();
    const first = await fresh.list('/budget');
    expect(Date.now() - started).toBeLessThan(400);
    const sizes = first.map((e) => e.size);
    expect(sizes.filter((n) => n === 200).length).toBeGreaterThanOrEqual(2); // probed within the budget
    expect(sizes.filter((n) => n === 103).length).toBeGreaterThanOrEqual(1); // by arithmetic
    // The background probes finish; then every entry is known without another read.
    for (let t = 0; t < 100 && reads < 12; t++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 60));
    expect(reads).toBe(12);
    const second = await fresh.list('/budget');
    expect(second.map((e) => e.size)).toEqual(Array(12).fill(200));
    expect(reads).toBe(12);
  });

  it('decrypts files written under an older key; unknown key id is DC_ERR_UNKNOWN_KEY', async () => {
    const inner = await createLocalBackend(root);
    await new EncryptingBackend(inner, createMountKeySet([oldKey], oldKey)).write('/old.txt', bodyOf('from before rotation'));
    expect((await readAll((await enc.read('/old.txt')).body)).toString()).toBe('from before rotation');
    const stranger = newMountKey();
    await new EncryptingBackend(inner, createMountKeySet([stranger], stranger)).write('/stranger.txt', bodyOf('x'.repeat(100)));
    await expectCode(enc.read('/stranger.txt'), 'DC_ERR_UNKNOWN_KEY');
    await expectCode(enc.read('/stranger.txt', { range: { start: 1, end: 2 } }), 'DC_ERR_UNKNOWN_KEY');
    expect((await enc.stat('/stranger.txt')).size).toBe(100);
  });

  it('tampered and truncated files fail with the right code, never with wrong bytes', async () => {
    const raw = await readFile(join(root, 'big.bin'));
    const flipped = Buffer.from(raw);
    flipped[65 + 2 * (S + 32) + 7]! ^= 0x10;
    await writeFile(join(root, 'flipped.bin'), flipped);
    const whole = await errorOf((await enc.read('/flipped.bin')).body);
    expect(whole.code).toBe('DC_ERR_TAMPERED');
    expect(whole.details?.segment).toBe(2);
    expect(whole.data.equals(big.subarray(0, whole.data.length))).toBe(true);
    expect(whole.data.length).toBeLessThanOrEqual(2 * S);
    // A range whose first segment fails is refused before any byte (after one fresh header read).
    await expectCode(enc.read('/flipped.bin', { range: { start: 2 * S + 1, end: 2 * S + 10 } }), 'DC_ERR_TAMPERED');
    const okRange = await enc.read('/flipped.bin', { range: { start: S, end: 2 * S - 1 } });
    expect((await readAll(okRange.body)).equals(big.subarray(S, 2 * S))).toBe(true);

    await writeFile(join(root, 'cut.bin'), raw.subarray(0, 65 + 3 * (S + 32)));
    expect((await enc.stat('/cut.bin')).size).toBe(3 * S);
    expect((await errorOf((await enc.read('/cut.bin')).body)).code).toBe('DC_ERR_TRUNCATED');
    await writeFile(join(root, 'cut-odd.bin'), raw.subarray(0, 65 + 3 * (S + 32) + 5));
    expect(couldBeCipherSize(65 + 3 * (S + 32) + 5)).toBe(false);
    expect((await enc.stat('/cut-odd.bin')).size).toBe(65 + 3 * (S + 32) + 5);
    expect((await enc.stat('/cut-odd.bin')).integrityError?.code).toBe('DC_ERR_TRUNCATED');
    await expectCode(enc.read('/cut-odd.bin'), 'DC_ERR_TRUNCATED');
    await writeFile(join(root, 'long.bin'), Buffer.concat([raw, Buffer.from('appended')]));
    const long = await errorOf((await enc.read('/long.bin')).body);
    expect(long.code).toMatch(/^DC_ERR_(TAMPERED|TRAILING_DATA)$/);
    const v2 = Buffer.from(raw);
    v2[8] = 2;
    await writeFile(join(root, 'v2.bin'), v2);
    await expectCode(enc.read('/v2.bin'), 'DC_ERR_UNSUPPORTED_VERSION');
    await expectCode(enc.read('/v2.bin', { range: { start: 0, end: 5 } }), 'DC_ERR_UNSUPPORTED_VERSION');
    expect((await enc.stat('/v2.bin')).size).toBe(raw.length);
    expect((await enc.stat('/v2.bin')).integrityError?.code).toBe('DC_ERR_UNSUPPORTED_VERSION');
  });

  it('write passes the cipher size and preconditions to the inner backend', async () => {
    const sizes: (number | undefined)[] = [];
    const spy: Backend = new Proxy(counter.inner, {
      get: (t, prop) => {
        if (prop === 'write') {
          return (p: string, body: Readable, o?: { size?: number }) => {
            sizes.push(o?.size);
            return t.write(p, body, o);
          };
        }
        const v = Reflect.get(t, prop);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    const b = new EncryptingBackend(spy, createMountKeySet([key], key));
    const first = await b.write('/w.txt', bodyOf('hello'), { size: 5, ifNoneMatch: '*' });
    expect(first.size).toBe(5);
    expect(sizes).toEqual([cipherSizeForPlain(5)]);
    await expectCode(b.write('/w.txt', bodyOf('again'), { ifNoneMatch: '*' }), 'DC_ERR_PRECONDITION_FAILED');
    await expectCode(b.write('/w.txt', bodyOf('again'), { ifMatch: '"nope"' }), 'DC_ERR_PRECONDITION_FAILED');
    const second = await b.write('/w.txt', bodyOf('again!'), { ifMatch: first.etag });
    expect(second.size).toBe(6);
    await expectCode(b.write('/w.txt', bodyOf('wrong length'), { size: 3 }), 'DC_ERR_BAD_REQUEST');
    expect((await readAll((await b.read('/w.txt')).body)).toString()).toBe('again!');
  });

  it('move and copy keep files readable (not bound to their path)', async () => {
    await enc.write('/m1.txt', bodyOf('movable'));
    await enc.move('/m1.txt', '/m2.txt');
    await enc.copy('/m2.txt', '/m3.txt');
    expect((await readAll((await enc.read('/m2.txt')).body)).toString()).toBe('movable');
    expect((await readAll((await enc.read('/m3.txt', { range: { start: 1, end: 3 } })).body)).toString()).toBe('ova');
  });

  it('ANDs its own capabilities with the wrapped backend\'s (types.ts), and offers an optional method only with it', async () => {
    const none: BackendCapabilities = { rangeRead: false, serverSideMove: false, serverSideCopy: false, setModified: false, quota: false };
    const all: Required<BackendCapabilities> = { ...none, rangeRead: true, serverSideMove: true, serverSideCopy: true, setModified: true, quota: true, writeReportsCreated: true, caseInsensitive: true };
    const over = (capabilities: BackendCapabilities) => new EncryptingBackend(Object.assign(Object.create(counter.inner) as Backend, { capabilities }), createMountKeySet([key], key));
    expect(over(none).capabilities).toEqual(none);
    expect(over(all).capabilities).toEqual(all);
    expect(Object.isFrozen(over(all).capabilities)).toBe(true);
    // A decorator that cannot do something masks it, whatever the wrapped backend can.
    expect(maskCapabilities(all, { ...all, quota: false, serverSideCopy: false })).toEqual({ ...all, quota: false, serverSideCopy: false });
    expect(maskCapabilities(none, all)).toEqual(none);
    expect(typeof enc.setModified).toBe(typeof counter.inner.setModified);
    expect(typeof enc.quota).toBe(typeof counter.inner.quota);
  });
});

describe('EncryptingBackend never trusts cached metadata over the bytes', () => {
  const S = 65536;
  const key = newMountKey();
  let tmp: TempDir;
  let root: string;
  beforeAll(async () => {
    tmp = await makeTempDir('enc-cache');
    root = join(tmp.path, 'root');
  });
  afterAll(() => tmp.cleanup());

  /** A store that gives every version of every file the same ETag (as Apache does for same-size writes within one clock tick). */
  function oneEtagFor(inner: Backend, onRead?: (opts?: ReadOptions) => void): Backend {
    const fix = <T extends { etag?: string }>(e: T): T => ({ ...e, etag: '"same"' });
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop === 'stat') return async (p: string, o?: ReadOptions) => fix(await target.stat(p, o));
        if (prop === 'write') return async (p: string, b: Readable, o?: object) => fix(await target.write(p, b, o));
        if (prop === 'read') {
          return async (p: string, o?: ReadOptions) => {
            const r = await target.read(p, o);
            onRead?.(o);
            return { ...r, info: fix(r.info) };
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  it('a range read with a cached header of another version re-reads the header instead of reporting tampering', async () => {
    const local = await createLocalBackend(root);
    const a = new EncryptingBackend(oneEtagFor(local), createMountKeySet([key], key));
    const b = new EncryptingBackend(oneEtagFor(local), createMountKeySet([key], key));
    const v1 = Buffer.alloc(3 * S, 1);
    const v2 = Buffer.alloc(3 * S, 2);
    await a.write('/f.bin', bodyOf(v1), { size: v1.length }); // a caches v1's header under "same"
    await b.write('/f.bin', bodyOf(v2), { size: v2.length }); // another writer, same size, same ETag
    const r = await a.read('/f.bin', { range: { start: S + 10, end: S + 19 } });
    expect((await readAll(r.body)).equals(v2.subarray(S + 10, S + 20))).toBe(true);
  });

  it('when the file changes between a fresh header read and the segments under one ETag, reads both in one request', async () => {
    const local = await createLocalBackend(root);
    const versions = [Buffer.alloc(3 * S, 3), Buffer.alloc(3 * S, 4), Buffer.alloc(3 * S, 5)];
    const writer = new EncryptingBackend(local, createMountKeySet([key], key));
    const raws: Buffer[] = [];
    for (const [i, v] of versions.entries()) {
      await writer.write(`/v${i}.bin`, bodyOf(v), { size: v.length });
      raws.push(await readFile(join(root, `v${i}.bin`)));
    }
    await writeFile(join(root, 'g.bin'), raws[0]!);
    let probes = 0;
    const swapping = oneEtagFor(local, (o) => {
      // Each header probe is followed by another writer's same-size version.
      if (o?.range?.start === 0 && o.range.end === 64) {
        // Replaced as stores do (new file renamed over): a read already open keeps the old bytes.
        writeFileSync(join(root, 'g.swap'), raws[Math.min(++probes, 2)]!);
        renameSync(join(root, 'g.swap'), join(root, 'g.bin'));
      }
    });
    const enc = new EncryptingBackend(swapping, createMountKeySet([key], key), { metaCache: new LruEncryptionMetaCache(10) });
    const r = await enc.read('/g.bin', { range: { start: S + 10, end: S + 19 } });
    const got = await readAll(r.body);
    expect(versions.some((v) => v.subarray(S + 10, S + 20).equals(got))).toBe(true);
    expect(probes).toBeGreaterThanOrEqual(2);
  });

  it('a file that really is tampered is still reported (DC_ERR_TAMPERED), after the re-reads', async () => {
    const local = await createLocalBackend(root);
    const enc = new EncryptingBackend(local, createMountKeySet([key], key));
    await enc.write('/t.bin', bodyOf(Buffer.alloc(3 * S, 6)), { size: 3 * S });
    const raw = await readFile(join(root, 't.bin'));
    raw[65 + (S + 32) + 100]! ^= 1;
    await writeFile(join(root, 't.bin'), raw);
    await expectCode(enc.read('/t.bin', { range: { start: S + 10, end: S + 19 } }), 'DC_ERR_TAMPERED');
  });
});
