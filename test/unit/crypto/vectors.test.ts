// Known-answer tests: the committed v1 vectors, golden files and tamper table
// (test/vectors/) against src/crypto AND against the spec-literal reference.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createDecryptStream,
  createEncryptStream,
  deriveFileKeys,
  parseHeader,
  plainSizeForCipher,
} from '../../../src/crypto/index.js';
import { FEED_MODES, pattern, queuedRandom, run, sha256 } from './helpers.js';
import { refDecrypt, refEncrypt } from './reference.js';

const vectorsDir = new URL('../../vectors/', import.meta.url);
const load = (file: string) => readFileSync(new URL(file, vectorsDir));
const formatV1 = JSON.parse(load('format-v1.json').toString('utf8'));
const tamperV1 = JSON.parse(load('tamper-v1.json').toString('utf8'));
const mountKey = Buffer.from(formatV1.mountKey, 'hex');
const keyId = Buffer.from(formatV1.keyId, 'hex');
const resolveKey = (id: Buffer) => (id.equals(keyId) ? mountKey : undefined);

interface FormatCase {
  name: string;
  segmentExponent?: number;
  salt?: string;
  noncePrefix?: string;
  plainSize: number;
  plainSha256: string;
  header?: string;
  aesKey?: string;
  macKey?: string;
  cipherSize: number;
  cipherSha256: string;
  cipherHex?: string;
  golden?: string;
  expect: string;
}

function cipherOf(c: FormatCase): Buffer {
  const cipher = c.cipherHex
    ? Buffer.from(c.cipherHex, 'hex')
    : c.golden
      ? load(c.golden)
      : refEncrypt(mountKey, keyId, c.segmentExponent!, Buffer.from(c.salt!, 'hex'), Buffer.from(c.noncePrefix!, 'hex'), pattern(c.plainSize));
  expect(sha256(cipher), `${c.name}: vector file integrity`).toBe(c.cipherSha256);
  expect(cipher.length).toBe(c.cipherSize);
  return cipher;
}

async function decrypt(cipher: Buffer, mode: (typeof FEED_MODES)[number], sized: boolean) {
  return run(createDecryptStream({ resolveKey, cipherSize: sized ? cipher.length : undefined }), cipher, mode);
}

describe('format v1 known-answer vectors', () => {
  const cases = formatV1.cases as FormatCase[];
  it('has the expected set of cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    expect(cases.filter((c) => c.expect === 'ok').length).toBeGreaterThanOrEqual(10);
  });

  for (const c of cases.filter((x) => x.expect === 'ok' && x.salt)) {
    it(`${c.name}: encrypts to the vector bytes (stream and reference)`, async () => {
      const plain = pattern(c.plainSize);
      expect(sha256(plain)).toBe(c.plainSha256);
      const salt = Buffer.from(c.salt!, 'hex');
      const noncePrefix = Buffer.from(c.noncePrefix!, 'hex');
      const expected = cipherOf(c);
      const enc = createEncryptStream({
        key: { id: keyId, key: mountKey },
        segmentExponent: c.segmentExponent,
        random: queuedRandom(salt, noncePrefix),
      });
      for (const mode of FEED_MODES.filter((m) => m !== 'bytes' || c.plainSize < 20000)) {
        const again = createEncryptStream({
          key: { id: keyId, key: mountKey },
          segmentExponent: c.segmentExponent,
          random: queuedRandom(salt, noncePrefix),
        });
        const r = await run(again, plain, mode);
        expect(r.error).toBeUndefined();
        expect(sha256(r.output), `${c.name} encrypt fed ${mode}`).toBe(c.cipherSha256);
      }
      enc.destroy();
      const ref = refEncrypt(mountKey, keyId, c.segmentExponent!, salt, noncePrefix, plain);
      expect(sha256(ref)).toBe(c.cipherSha256);
      const header = parseHeader(expected);
      expect(header.bytes.toString('hex')).toBe(c.header);
      const keys = deriveFileKeys(mountKey, header);
      expect(keys.aesKey.toString('hex')).toBe(c.aesKey);
      expect(keys.macKey.toString('hex')).toBe(c.macKey);
      expect(plainSizeForCipher(c.cipherSize, c.segmentExponent)).toBe(c.plainSize);
    });
  }

  for (const c of cases) {
    it(`${c.name}: decrypts to ${c.expect} (whole, chunks, bytes; sized and unsized; reference)`, async () => {
      const cipher = cipherOf(c);
      const plain = pattern(c.plainSize);
      for (const mode of FEED_MODES) {
        for (const sized of [false, true]) {
          const r = await decrypt(cipher, mode, sized);
          const label = `${c.name} fed ${mode}${sized ? ' sized' : ''}`;
          if (c.expect === 'ok') {
            expect(r.error, label).toBeUndefined();
            expect(sha256(r.output), label).toBe(c.plainSha256);
          } else {
            expect(r.error?.code, label).toBe(c.expect);
            expect(plain.subarray(0, r.output.length).equals(r.output), `${label}: only verified plaintext`).toBe(true);
          }
        }
      }
      const ref = refDecrypt(mountKey, cipher);
      if (c.expect === 'ok') expect(ref.plain && sha256(ref.plain)).toBe(c.plainSha256);
      else if (c.expect !== 'DC_ERR_UNKNOWN_KEY') expect(ref.ok).toBe(false);
    });
  }
});

type Op = Record<string, unknown>;
function segmentsOf(file: Buffer): { header: Buffer; segments: Buffer[] } {
  const full = 2 ** file[9]! + 32;
  const segments: Buffer[] = [];
  for (let off = 65; off < file.length; off += full) segments.push(file.subarray(off, Math.min(file.length, off + full)));
  return { header: file.subarray(0, 65), segments };
}

function applyOp(base: Buffer, op: Op): Buffer {
  const { header, segments } = segmentsOf(base);
  if ('truncate' in op) return base.subarray(0, op.truncate as number);
  if ('append' in op) return Buffer.concat([base, Buffer.from(op.append as string, 'hex')]);
  if ('flip' in op) {
    const { offset, bit } = op.flip as { offset: number; bit: number };
    const out = Buffer.from(base);
    out[offset] = out[offset]! ^ (1 << bit);
    return out;
  }
  if ('drop' in op) return Buffer.concat([header, ...segments.filter((_, i) => i !== op.drop)]);
  if ('duplicate' in op) {
    const k = op.duplicate as number;
    return Buffer.concat([header, ...segments.flatMap((s, i) => (i === k ? [s, s] : [s]))]);
  }
  if ('swap' in op) {
    const [a, b] = op.swap as [number, number];
    const s = [...segments];
    [s[a], s[b]] = [s[b]!, s[a]!];
    return Buffer.concat([header, ...s]);
  }
  if ('replaceSegment' in op) {
    const r = op.replaceSegment as { segment: number; fromFile: string; fromSegment: number };
    const other = segmentsOf(load(r.fromFile)).segments[r.fromSegment]!;
    return Buffer.concat([header, ...segments.map((s, i) => (i === r.segment ? other : s))]);
  }
  if ('replaceHeader' in op) {
    const r = op.replaceHeader as { fromFile: string };
    return Buffer.concat([load(r.fromFile).subarray(0, 65), ...segments]);
  }
  throw new Error(`unknown op ${JSON.stringify(op)}`);
}

describe('tamper table v1', () => {
  const cases = tamperV1.cases as { name: string; base: string; op: Op; expect: string; expectSized?: string; segment?: number }[];
  it('covers truncate, append, flip, drop, duplicate, swap, foreign segment and header', () => {
    const kinds = new Set(cases.flatMap((c) => Object.keys(c.op)));
    for (const k of ['truncate', 'append', 'flip', 'drop', 'duplicate', 'swap', 'replaceSegment', 'replaceHeader']) {
      expect(kinds).toContain(k);
    }
  });
  for (const c of cases) {
    it(`${c.name} → ${c.expect}`, async () => {
      const base = load(c.base);
      const plainSize = plainSizeForCipher(base.length, base[9])!;
      const plain = pattern(plainSize);
      const damaged = applyOp(base, c.op);
      expect(damaged.equals(base)).toBe(false);
      for (const mode of FEED_MODES) {
        for (const sized of [false, true]) {
          const label = `${c.name} fed ${mode}${sized ? ' sized' : ''}`;
          const r = await decrypt(damaged, mode, sized);
          expect(r.error?.code, label).toBe(sized ? (c.expectSized ?? c.expect) : c.expect);
          if (c.segment !== undefined) expect(r.error?.details?.segment, label).toBe(c.segment);
          // Never a byte of a failing segment: output is a verified prefix, whole segments only.
          expect(plain.subarray(0, r.output.length).equals(r.output), label).toBe(true);
          if (c.segment !== undefined) expect(r.output.length, label).toBeLessThanOrEqual(c.segment * 2 ** base[9]!);
        }
      }
      expect(refDecrypt(mountKey, damaged).ok).toBe(false);
    });
  }
});
