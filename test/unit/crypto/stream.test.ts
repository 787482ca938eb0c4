import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cipherOffsetOfSegment,
  cipherSizeForPlain,
  createDecryptStream,
  createEncryptStream,
  createSegmentDecryptStream,
  decryptPlainRange,
  newMountKey,
  parseHeader,
  planPlainRange,
} from '../../../src/crypto/index.js';
import { FEED_MODES, pattern, run, split } from './helpers.js';

const numRuns = process.env.SLOW === '1' ? 300 : 25;
const key = newMountKey();
const resolveKey = (id: Buffer) => (id.equals(key.id) ? key.key : undefined);

async function encrypt(plain: Buffer, segmentExponent = 12, chunks?: Buffer[]): Promise<Buffer> {
  return buffer(Readable.from(chunks ?? [plain]).pipe(createEncryptStream({ key, segmentExponent })));
}

describe('streaming encrypt/decrypt round trip', () => {
  for (const e of [12, 16]) {
    const S = 2 ** e;
    for (const plainSize of [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 17]) {
      it(`e=${e}, ${plainSize} bytes: size formula, whole/chunks/bytes, sized/unsized`, async () => {
        const plain = randomBytes(plainSize);
        const modes = FEED_MODES.filter((m) => m !== 'bytes' || plainSize <= 3 * 4096 + 17);
        for (const mode of modes) {
          const cipher = (await run(createEncryptStream({ key, segmentExponent: e }), plain, mode)).output;
          expect(cipher.length).toBe(cipherSizeForPlain(plainSize, e));
          expect(parseHeader(cipher).keyId.equals(key.id)).toBe(true);
          for (const dmode of modes) {
            for (const cipherSize of [undefined, cipher.length]) {
              const r = await run(createDecryptStream({ resolveKey, cipherSize }), cipher, dmode);
              expect(r.error).toBeUndefined();
              expect(r.output.equals(plain), `enc ${mode} dec ${dmode}`).toBe(true);
            }
          }
        }
      });
    }
  }

  it('uses a fresh salt and nonce prefix per file', async () => {
    const a = await encrypt(pattern(100));
    const b = await encrypt(pattern(100));
    expect(a.subarray(26, 65).equals(b.subarray(26, 65))).toBe(false);
    expect(a.subarray(65).equals(b.subarray(65))).toBe(false);
  });

  it('accepts an async resolveKey and reports the header', async () => {
    const cipher = await encrypt(pattern(5000));
    let seen: Buffer | undefined;
    const dec = createDecryptStream({
      resolveKey: async (id) => {
        await new Promise((r) => setTimeout(r, 5));
        return resolveKey(id);
      },
      onHeader: (h) => (seen = h.keyId),
    });
    const r = await run(dec, cipher, 'chunks');
    expect(r.output.equals(pattern(5000))).toBe(true);
    expect(seen?.equals(key.id)).toBe(true);
  });

  it('fails with DC_ERR_UNKNOWN_KEY for a key it does not hold, emitting nothing', async () => {
    const cipher = await encrypt(pattern(5000));
    const r = await run(createDecryptStream({ resolveKey: () => undefined }), cipher, 'whole');
    expect(r.error?.code).toBe('DC_ERR_UNKNOWN_KEY');
    expect(r.error?.details?.keyId).toBe(key.id.toString('hex'));
    expect(r.output.length).toBe(0);
  });

  it('fails with the wrong mount key as DC_ERR_TAMPERED at segment 0', async () => {
    const cipher = await encrypt(pattern(5000));
    const r = await run(createDecryptStream({ resolveKey: () => Buffer.alloc(32) }), cipher, 'whole');
    expect(r.error?.code).toBe('DC_ERR_TAMPERED');
    expect(r.error?.details?.segment).toBe(0);
  });

  it('fails early on plaintext input (no magic) without reading it all', async () => {
    const r = await run(createDecryptStream({ resolveKey }), Buffer.from('hello world, not encrypted'), 'bytes');
    expect(r.error?.code).toBe('DC_ERR_NOT_ENCRYPTED');
  });

  it('round-trips random data with random chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 * 4096 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 20 }),
        async (plainSize, cuts) => {
          const plain = randomBytes(plainSize);
          const chunks: Buffer[] = [];
          for (let off = 0, i = 0; off < plainSize; i++) {
            const n = cuts[i % cuts.length]!;
            chunks.push(plain.subarray(off, off + n));
            off += n;
          }
          const cipher = await encrypt(plain, 12, chunks);
          expect(cipher.length).toBe(cipherSizeForPlain(plainSize, 12));
          const reChunked: Buffer[] = [];
          for (let off = 0, i = 0; off < cipher.length; i++) {
            const n = cuts[(i + 1) % cuts.length]!;
            reChunked.push(cipher.subarray(off, off + n));
            off += n;
          }
          const out = await buffer(Readable.from(reChunked).pipe(createDecryptStream({ resolveKey })));
          expect(out.equals(plain)).toBe(true);
        },
      ),
      { numRuns },
    );
  });

  it('any single flipped bit fails and only verified plaintext is emitted (property)', async () => {
    const plain = randomBytes(3 * 4096 + 500);
    const cipher = await encrypt(plain);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: cipher.length - 1 }), fc.integer({ min: 0, max: 7 }), async (offset, bit) => {
        const bad = Buffer.from(cipher);
        bad[offset] = bad[offset]! ^ (1 << bit);
        for (const cipherSize of [undefined, bad.length]) {
          const r = await run(createDecryptStream({ resolveKey, cipherSize }), bad, 'chunks');
          expect(r.error?.code).toMatch(/^DC_ERR_(TAMPERED|NOT_ENCRYPTED|UNSUPPORTED_VERSION|BAD_HEADER|UNKNOWN_KEY)$/);
          expect(r.output.length % 4096).toBe(0);
          expect(plain.subarray(0, r.output.length).equals(r.output)).toBe(true);
          if (offset >= 65) expect(r.output.length).toBeLessThanOrEqual(Math.floor((offset - 65) / 4128) * 4096);
        }
      }),
      { numRuns: numRuns * 4 },
    );
  });

  it('keeps memory flat: 128 MiB through encrypt and decrypt', async () => {
    const chunk = randomBytes(1 << 20);
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= 128) return void this.push(null);
        produced += 1;
        this.push(chunk);
      },
    });
    let plainOut = 0;
    const before = process.memoryUsage().rss;
    let peak = before;
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        plainOut += c.length;
        peak = Math.max(peak, process.memoryUsage().rss);
        cb();
      },
    });
    await pipeline(source, createEncryptStream({ key }), createDecryptStream({ resolveKey }), sink);
    expect(plainOut).toBe(128 * (1 << 20));
    expect(peak - before).toBeLessThan(96 * (1 << 20));
  });
});

describe('createSegmentDecryptStream and decryptPlainRange', () => {
  const S = 4096;
  const plain = randomBytes(4 * S + 123);
  let cipher: Buffer;
  const ready = encrypt(plain).then((c) => (cipher = c));

  it('decrypts from any first segment to the end, in every feed mode', async () => {
    await ready;
    const header = parseHeader(cipher);
    for (let first = 0; first < 5; first++) {
      for (const mode of FEED_MODES) {
        const dec = createSegmentDecryptStream({ header, mountKey: key.key, firstSegment: first, cipherSize: cipher.length });
        const r = await run(dec, cipher.subarray(cipherOffsetOfSegment(first, 12)), mode);
        expect(r.error).toBeUndefined();
        expect(r.output.equals(plain.subarray(first * S))).toBe(true);
      }
    }
  });

  it('stops at lastSegment and names early ends and extra data', async () => {
    await ready;
    const header = parseHeader(cipher);
    const mk = (firstSegment: number, lastSegment?: number) =>
      createSegmentDecryptStream({ header, mountKey: key.key, firstSegment, lastSegment, cipherSize: cipher.length });
    const part = cipher.subarray(cipherOffsetOfSegment(1, 12), cipherOffsetOfSegment(3, 12));
    const ok = await run(mk(1, 2), part, 'chunks');
    expect(ok.error).toBeUndefined();
    expect(ok.output.equals(plain.subarray(S, 3 * S))).toBe(true);
    const short = await run(mk(1, 2), part.subarray(0, part.length - 1), 'chunks');
    expect(short.error?.code).toBe('DC_ERR_TRUNCATED');
    expect(short.output.equals(plain.subarray(S, 2 * S))).toBe(true);
    const extra = await run(mk(1, 2), cipher.subarray(cipherOffsetOfSegment(1, 12), cipherOffsetOfSegment(3, 12) + 1), 'whole');
    expect(extra.error?.code).toBe('DC_ERR_TRAILING_DATA');
    const toEnd = await run(mk(3), cipher.subarray(cipherOffsetOfSegment(3, 12), cipher.length - 1), 'whole');
    expect(toEnd.error?.code).toBe('DC_ERR_TRUNCATED');
    // The last flag comes from cipherSize: a size cut at a segment boundary makes segment 3 "last",
    // and its tag (sealed as non-last) says the file was truncated.
    const cut = createSegmentDecryptStream({ header, mountKey: key.key, firstSegment: 3, cipherSize: cipherOffsetOfSegment(4, 12) });
    const r = await run(cut, cipher.subarray(cipherOffsetOfSegment(3, 12), cipherOffsetOfSegment(4, 12)), 'whole');
    expect(r.error?.code).toBe('DC_ERR_TRUNCATED');
    expect(r.output.length).toBe(0);
    // Claiming a longer file: the real (short) last segment cannot fill a full segment.
    const longer = createSegmentDecryptStream({ header, mountKey: key.key, firstSegment: 4, cipherSize: cipher.length + S + 32 });
    const r2 = await run(longer, cipher.subarray(cipherOffsetOfSegment(4, 12)), 'whole');
    expect(r2.error?.code).toBe('DC_ERR_TRUNCATED');
    expect(() =>
      createSegmentDecryptStream({ header, mountKey: key.key, firstSegment: 0, cipherSize: cipherOffsetOfSegment(4, 12) + 10 }),
    ).toThrow(expect.objectContaining({ code: 'DC_ERR_TRUNCATED' }));
  });

  it('decryptPlainRange fetches only the planned span and returns exactly the range', async () => {
    await ready;
    const header = parseHeader(cipher);
    const ranges: [number, number][] = [
      [0, 0],
      [0, S - 1],
      [S - 1, S],
      [S, 2 * S - 1],
      [2 * S + 5, 4 * S + 122],
      [4 * S, 4 * S + 122],
      [4 * S + 122, 4 * S + 122],
      [0, 4 * S + 122],
    ];
    for (const [a, b] of ranges) {
      const fetched: [number, number][] = [];
      const { body, span } = await decryptPlainRange({
        header,
        mountKey: key.key,
        cipherSize: cipher.length,
        plainStart: a,
        plainEnd: b,
        fetchCipherRange: async (s, e) => {
          fetched.push([s, e]);
          return Readable.from(split(cipher.subarray(s, e + 1), 'chunks'));
        },
      });
      const out = await buffer(body);
      expect(out.equals(plain.subarray(a, b + 1)), `range ${a}-${b}`).toBe(true);
      expect(fetched).toEqual([[span.cipherStart, span.cipherEnd]]);
      expect(span).toEqual(planPlainRange(a, b, plain.length, 12));
    }
  });

  it('decryptPlainRange surfaces tampering as a stream error, never the bad bytes', async () => {
    await ready;
    const header = parseHeader(cipher);
    const bad = Buffer.from(cipher);
    bad[cipherOffsetOfSegment(2, 12) + 10]! ^= 1;
    const { body } = await decryptPlainRange({
      header,
      mountKey: key.key,
      cipherSize: bad.length,
      plainStart: S + 10,
      plainEnd: 3 * S,
      fetchCipherRange: async (s, e) => Readable.from([bad.subarray(s, e + 1)]),
    });
    const got: Buffer[] = [];
    const err = await new Promise<{ code?: string }>((resolve) => {
      body.on('data', (c: Buffer) => got.push(c));
      body.on('error', resolve);
      body.on('end', () => resolve({}));
    });
    expect(err.code).toBe('DC_ERR_TAMPERED');
    expect(Buffer.concat(got).equals(plain.subarray(S + 10, 2 * S))).toBe(true);
  });
});

describe('known plain size: ciphertext leaves as the plaintext arrives', () => {
  const fixed = (n: number) => Buffer.alloc(n, 0x5a);
  for (const e of [12, 16]) {
    const S = 2 ** e;
    for (const plainSize of [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 17]) {
      it(`e=${e}, ${plainSize} bytes: same bytes as the segment-at-a-time encoder, fed whole/chunks/bytes`, async () => {
        const plain = randomBytes(plainSize);
        const reference = (await run(createEncryptStream({ key, segmentExponent: e, random: fixed }), plain, 'whole')).output;
        const modes = FEED_MODES.filter((m) => m !== 'bytes' || plainSize <= 3 * 4096 + 17);
        for (const mode of modes) {
          const r = await run(createEncryptStream({ key, segmentExponent: e, random: fixed, plainSize }), plain, mode);
          expect(r.error).toBeUndefined();
          expect(r.output.equals(reference), mode).toBe(true);
        }
      });
    }
  }

  it('emits ciphertext for a partial segment at once (nothing waits for the segment to fill)', async () => {
    const enc = createEncryptStream({ key, segmentExponent: 16, plainSize: 100_000 });
    const out: Buffer[] = [];
    enc.on('data', (c: Buffer) => out.push(c));
    enc.write(Buffer.alloc(10, 1));
    await new Promise((r) => setImmediate(r));
    // header + 10 ciphertext bytes, long before 64 KiB arrived
    expect(Buffer.concat(out).length).toBe(65 + 10);
    enc.destroy();
  });

  it('fails a body shorter or longer than declared', async () => {
    const short = await run(createEncryptStream({ key, plainSize: 10 }), Buffer.alloc(9), 'whole');
    expect((short.error as { code?: string })?.code).toBe('DC_ERR_BAD_REQUEST');
    const long = await run(createEncryptStream({ key, plainSize: 10 }), Buffer.alloc(11), 'whole');
    expect((long.error as { code?: string })?.code).toBe('DC_ERR_BAD_REQUEST');
  });
});
