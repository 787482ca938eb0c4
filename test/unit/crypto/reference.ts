// A deliberately naive, one-shot implementation of format v1 written straight from
// docs/FORMAT.md (no imports from src/): the independent check that src/crypto and
// the committed vectors agree with the written spec. Test-only; never optimized.
import { createCipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export interface RefResult {
  ok: boolean;
  plain?: Buffer;
  reason?: string;
}

function ivFor(noncePrefix: Buffer, i: number, last: boolean): Buffer {
  const iv = Buffer.alloc(16);
  noncePrefix.copy(iv, 0);
  iv.writeUInt32BE(i, 7);
  iv[11] = last ? 1 : 0;
  return iv;
}

function keysFor(mountKey: Buffer, header: Buffer): { aes: Buffer; mac: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', mountKey, header.subarray(26, 58), header.subarray(0, 26), 64));
  return { aes: okm.subarray(0, 32), mac: okm.subarray(32) };
}

export function refEncrypt(
  mountKey: Buffer,
  keyId: Buffer,
  e: number,
  salt: Buffer,
  noncePrefix: Buffer,
  plain: Buffer,
): Buffer {
  const header = Buffer.concat([Buffer.from('DAVCRYPT'), Buffer.from([1, e]), keyId, salt, noncePrefix]);
  const { aes, mac } = keysFor(mountKey, header);
  const S = 2 ** e;
  const n = Math.max(1, Math.ceil(plain.length / S));
  const parts = [header];
  for (let i = 0; i < n; i++) {
    const m = plain.subarray(i * S, Math.min(plain.length, (i + 1) * S));
    const iv = ivFor(noncePrefix, i, i === n - 1);
    const c = createCipheriv('aes-256-ctr', aes, iv).update(m);
    parts.push(c, createHmac('sha256', mac).update(Buffer.concat([iv, c])).digest());
  }
  return Buffer.concat(parts);
}

export function refDecrypt(mountKey: Buffer, file: Buffer): RefResult {
  if (file.length < 65 || !file.subarray(0, 8).equals(Buffer.from('DAVCRYPT'))) return { ok: false, reason: 'header' };
  if (file[8] !== 1) return { ok: false, reason: 'version' };
  const e = file[9]!;
  if (e < 12 || e > 24) return { ok: false, reason: 'exponent' };
  const header = file.subarray(0, 65);
  const { aes, mac } = keysFor(mountKey, header);
  const S = 2 ** e;
  const body = file.subarray(65);
  const n = Math.ceil(body.length / (S + 32));
  if (n === 0) return { ok: false, reason: 'no segments' };
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const seg = body.subarray(i * (S + 32), Math.min(body.length, (i + 1) * (S + 32)));
    if (seg.length < 32) return { ok: false, reason: 'short segment' };
    const c = seg.subarray(0, seg.length - 32);
    const iv = ivFor(header.subarray(58, 65), i, i === n - 1);
    const t = createHmac('sha256', mac).update(Buffer.concat([iv, c])).digest();
    if (!timingSafeEqual(t, seg.subarray(seg.length - 32))) return { ok: false, reason: `tag ${i}` };
    if (i > 0 && c.length === 0) return { ok: false, reason: 'empty final segment' };
    out.push(createCipheriv('aes-256-ctr', aes, iv).update(c));
  }
  return { ok: true, plain: Buffer.concat(out) };
}
