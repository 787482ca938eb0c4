import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cipherOffsetOfSegment,
  cipherSizeForPlain,
  planPlainRange,
  plainSizeForCipher,
  segmentCountForPlain,
} from '../../../src/crypto/index.js';

const numRuns = process.env.SLOW === '1' ? 20_000 : 500;

describe('size arithmetic', () => {
  it('matches the formula at the edges (S = 65536)', () => {
    const S = 65536;
    expect(cipherSizeForPlain(0)).toBe(97);
    expect(cipherSizeForPlain(1)).toBe(98);
    expect(cipherSizeForPlain(S - 1)).toBe(65 + S - 1 + 32);
    expect(cipherSizeForPlain(S)).toBe(65 + S + 32);
    expect(cipherSizeForPlain(S + 1)).toBe(65 + S + 1 + 64);
    expect(cipherSizeForPlain(3 * S)).toBe(65 + 3 * S + 96);
    expect(cipherSizeForPlain(2 ** 40)).toBe(65 + 2 ** 40 + 32 * 2 ** 24);
    expect(segmentCountForPlain(0)).toBe(1);
    expect(segmentCountForPlain(S)).toBe(1);
    expect(segmentCountForPlain(S + 1)).toBe(2);
    expect(cipherOffsetOfSegment(3, 12)).toBe(65 + 3 * 4128);
  });

  it('rejects sizes no file can have', () => {
    for (const c of [0, 1, 64, 65, 96, -1, 1.5, Number.NaN]) expect(plainSizeForCipher(c)).toBeUndefined();
    expect(plainSizeForCipher(97)).toBe(0);
    // A final segment shorter than its tag, or an empty non-first segment.
    const full = 65 + 65536 + 32;
    for (let extra = 1; extra <= 32; extra++) expect(plainSizeForCipher(full + extra)).toBeUndefined();
    expect(plainSizeForCipher(full + 33)).toBe(65537);
  });

  it('plainSizeForCipher inverts cipherSizeForPlain (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 12, max: 24 }), (p, e) => {
        if (p > 2 ** (32 + e)) {
          expect(() => cipherSizeForPlain(p, e)).toThrow(/2\^32 segments/);
          return;
        }
        expect(plainSizeForCipher(cipherSizeForPlain(p, e), e)).toBe(p);
      }),
      { numRuns },
    );
  });

  it('every valid cipher size maps back to itself (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 12, max: 24 }), (c, e) => {
        const p = plainSizeForCipher(c, e);
        if (p !== undefined) expect(cipherSizeForPlain(p, e)).toBe(c);
      }),
      { numRuns },
    );
  });
});

describe('planPlainRange', () => {
  it('maps ranges at segment boundaries', () => {
    const S = 4096;
    const plainSize = 3 * S + 100;
    const span = planPlainRange(S - 1, S, plainSize, 12);
    expect(span).toEqual({
      firstSegment: 0,
      lastSegment: 1,
      segmentCount: 2,
      cipherStart: 65,
      cipherEnd: 65 + 2 * (S + 32) - 1,
      skipPlainBytes: S - 1,
      plainLength: 2,
    });
    const tail = planPlainRange(3 * S, plainSize - 1, plainSize, 12);
    expect(tail.firstSegment).toBe(3);
    expect(tail.cipherStart).toBe(65 + 3 * (S + 32));
    expect(tail.cipherEnd).toBe(cipherSizeForPlain(plainSize, 12) - 1);
    expect(tail.plainLength).toBe(100);
  });

  it('refuses unsatisfiable ranges', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    expect(code(() => planPlainRange(0, 0, 0))).toBe('DC_ERR_RANGE_NOT_SATISFIABLE');
    expect(code(() => planPlainRange(5, 4, 10))).toBe('DC_ERR_RANGE_NOT_SATISFIABLE');
    expect(code(() => planPlainRange(0, 10, 10))).toBe('DC_ERR_RANGE_NOT_SATISFIABLE');
    expect(code(() => planPlainRange(-1, 3, 10))).toBe('DC_ERR_BAD_REQUEST');
  });

  it('covers exactly the segments holding the range (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 36 }),
        fc.integer({ min: 12, max: 24 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (plainSize, e, u, v) => {
          const S = 2 ** e;
          const a = Math.min(plainSize - 1, Math.floor(u * plainSize));
          const b = a + Math.min(plainSize - 1 - a, Math.floor(v * (plainSize - a)));
          const span = planPlainRange(a, b, plainSize, e);
          expect(span.firstSegment * S).toBeLessThanOrEqual(a);
          expect((span.lastSegment + 1) * S).toBeGreaterThan(b);
          expect(span.skipPlainBytes + span.plainLength).toBeLessThanOrEqual(span.segmentCount * S);
          expect(span.cipherStart).toBe(65 + span.firstSegment * (S + 32));
          const cipherSize = cipherSizeForPlain(plainSize, e);
          expect(span.cipherEnd).toBeLessThan(cipherSize);
          // Cipher bytes fetched = plaintext of the segments + one tag each.
          const segPlain = Math.min(plainSize, (span.lastSegment + 1) * S) - span.firstSegment * S;
          expect(span.cipherEnd - span.cipherStart + 1).toBe(segPlain + 32 * span.segmentCount);
        },
      ),
      { numRuns },
    );
  });
});
