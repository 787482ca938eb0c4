import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SEGMENT_EXPONENT,
  FORMAT_VERSION,
  HEADER_BYTES,
  MAGIC,
  TAG_BYTES,
  FileKeyCache,
  deriveFileKeys,
  encodeHeader,
  hasMagic,
  parseHeader,
  sealSegment,
} from '../../../src/crypto/index.js';

const fields = {
  segmentExponent: 16,
  keyId: Buffer.alloc(16, 0xa1),
  salt: Buffer.alloc(32, 0xb2),
  noncePrefix: Buffer.alloc(7, 0xc3),
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('format v1 header', () => {
  it('has the documented constants', () => {
    expect(MAGIC.toString('ascii')).toBe('DAVCRYPT');
    expect([FORMAT_VERSION, HEADER_BYTES, TAG_BYTES, DEFAULT_SEGMENT_EXPONENT]).toEqual([1, 65, 32, 16]);
  });

  it('encodes the fields at their offsets and parses them back', () => {
    const bytes = encodeHeader(fields);
    expect(bytes.length).toBe(65);
    expect(bytes.toString('hex')).toBe(
      '4441564352595054' + '01' + '10' + 'a1'.repeat(16) + 'b2'.repeat(32) + 'c3'.repeat(7),
    );
    const h = parseHeader(Buffer.concat([bytes, Buffer.from('trailing')]));
    expect(h.version).toBe(1);
    expect(h.segmentExponent).toBe(16);
    expect(h.keyId.equals(fields.keyId)).toBe(true);
    expect(h.salt.equals(fields.salt)).toBe(true);
    expect(h.noncePrefix.equals(fields.noncePrefix)).toBe(true);
    expect(h.bytes.equals(bytes)).toBe(true);
  });

  it('rejects bad input with the documented codes', () => {
    const good = encodeHeader(fields);
    const with1 = (offset: number, value: number) => {
      const b = Buffer.from(good);
      b[offset] = value;
      return b;
    };
    expect(codeOf(() => parseHeader(Buffer.from('NOTCRYPT' + 'x'.repeat(57))))).toBe('DC_ERR_NOT_ENCRYPTED');
    expect(codeOf(() => parseHeader(Buffer.alloc(0)))).toBe('DC_ERR_NOT_ENCRYPTED');
    expect(codeOf(() => parseHeader(Buffer.from('XY')))).toBe('DC_ERR_NOT_ENCRYPTED');
    expect(codeOf(() => parseHeader(Buffer.from('DAVC')))).toBe('DC_ERR_BAD_HEADER');
    expect(codeOf(() => parseHeader(good.subarray(0, 64)))).toBe('DC_ERR_BAD_HEADER');
    expect(codeOf(() => parseHeader(with1(8, 2)))).toBe('DC_ERR_UNSUPPORTED_VERSION');
    expect(codeOf(() => parseHeader(with1(8, 0)))).toBe('DC_ERR_UNSUPPORTED_VERSION');
    expect(codeOf(() => parseHeader(with1(8, 2).subarray(0, 20)))).toBe('DC_ERR_UNSUPPORTED_VERSION');
    for (const e of [0, 11, 25, 255]) expect(codeOf(() => parseHeader(with1(9, e)))).toBe('DC_ERR_BAD_HEADER');
    for (const e of [12, 16, 24]) expect(parseHeader(with1(9, e)).segmentExponent).toBe(e);
    expect(codeOf(() => encodeHeader({ ...fields, segmentExponent: 11 }))).toBe('DC_ERR_BAD_HEADER');
    expect(codeOf(() => encodeHeader({ ...fields, keyId: Buffer.alloc(15) }))).toBe('DC_ERR_BAD_HEADER');
    expect(codeOf(() => encodeHeader({ ...fields, salt: Buffer.alloc(31) }))).toBe('DC_ERR_BAD_HEADER');
    expect(codeOf(() => encodeHeader({ ...fields, noncePrefix: Buffer.alloc(8) }))).toBe('DC_ERR_BAD_HEADER');
  });

  it('hasMagic checks exactly the first 8 bytes', () => {
    expect(hasMagic(Buffer.from('DAVCRYPT'))).toBe(true);
    expect(hasMagic(Buffer.from('DAVCRYPTanything'))).toBe(true);
    expect(hasMagic(Buffer.from('DAVCRYP'))).toBe(false);
    expect(hasMagic(Buffer.from('davcrypt'))).toBe(false);
    expect(hasMagic(Buffer.alloc(0))).toBe(false);
  });

  it('binds every header byte into the derived keys', () => {
    const mountKey = Buffer.alloc(32, 7);
    const base = parseHeader(encodeHeader(fields));
    const k0 = deriveFileKeys(mountKey, base);
    expect(k0.aesKey.length).toBe(32);
    expect(k0.macKey.length).toBe(32);
    expect(k0.aesKey.equals(k0.macKey)).toBe(false);
    // Bytes 58..64 (nonce prefix) are not in HKDF but in every IV; all others change the keys.
    for (let offset = 9; offset < 58; offset++) {
      const b = Buffer.from(base.bytes);
      b[offset] = offset === 9 ? 17 : b[offset]! ^ 1;
      const k = deriveFileKeys(mountKey, parseHeader(b));
      expect(k.macKey.equals(k0.macKey), `offset ${offset}`).toBe(false);
    }
    expect(codeOf(() => deriveFileKeys(Buffer.alloc(31), base))).toBe('DC_ERR_INTERNAL');
  });
});

describe('FileKeyCache', () => {
  it('zeroes the raw bytes of keys it evicts; a reader still holding them keeps working through the KeyObjects', () => {
    const mountKey = Buffer.alloc(32, 7);
    const header = (salt: number) => parseHeader(encodeHeader({ ...fields, salt: Buffer.alloc(32, salt) }));
    const cache = new FileKeyCache(1);
    const held = cache.get(mountKey, header(1));
    const expected = deriveFileKeys(mountKey, header(1));
    const sealedBefore = sealSegment(held, fields.noncePrefix, 0, true, Buffer.from('plain'));
    cache.get(mountKey, header(2)); // evicts salt 1
    expect(held.aesKey.equals(Buffer.alloc(32))).toBe(true);
    expect(held.macKey.equals(Buffer.alloc(32))).toBe(true);
    expect(expected.aesKey.equals(Buffer.alloc(32))).toBe(false);
    expect(sealSegment(held, fields.noncePrefix, 0, true, Buffer.from('plain'))).toEqual(sealedBefore);
    expect(sealSegment(expected, fields.noncePrefix, 0, true, Buffer.from('plain'))).toEqual(sealedBefore);
  });
});
