// A spec-literal keyring format 2 verifier written from docs/FORMAT.md §3.1, §3.4-§3.6 alone,
// with node:crypto only (nothing from src/): what a third party would write. The vector tests
// check that it and src/ agree on every case.
import { createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, timingSafeEqual } from 'node:crypto';

const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const priv = (d: Buffer) => createPrivateKey({ key: Buffer.concat([PKCS8, d]), format: 'der', type: 'pkcs8' });
const pub = (p: Buffer) => createPublicKey({ key: Buffer.concat([SPKI, p]), format: 'der', type: 'spki' });
const publicOf = (d: Buffer) => Buffer.from((createPublicKey(priv(d)).export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI.length));

/** §3.1: unwrap; undefined when it does not open. */
export function refUnwrap(w: { epk: string; nonce: string; ct: string }, keyId: Buffer, d: Buffer): Buffer | undefined {
  try {
    const E = Buffer.from(w.epk, 'base64');
    const R = publicOf(d);
    const Z = diffieHellman({ privateKey: priv(d), publicKey: pub(E) });
    const W = Buffer.from(hkdfSync('sha256', Z, Buffer.concat([E, R]), Buffer.from('davcrypt/wrap/v1'), 32));
    const ct = Buffer.from(w.ct, 'base64');
    const dec = createDecipheriv('aes-256-gcm', W, Buffer.from(w.nonce, 'base64'));
    dec.setAAD(keyId);
    dec.setAuthTag(ct.subarray(32));
    return Buffer.concat([dec.update(ct.subarray(0, 32)), dec.final()]);
  } catch {
    return undefined;
  }
}

/** §3.4: tagKey_I = HKDF-SHA-256(ikm d, salt P, info "davcrypt/keyring-tag/v2", 32). */
export function refTagKey(d: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', d, publicOf(d), Buffer.from('davcrypt/keyring-tag/v2'), 32));
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** §3.4: the tag input bytes. */
export function refTagInput(mount: string, to: string, keyIdHex: string, K: Buffer, w: { epk: string; nonce: string; ct: string }, seq: number): Buffer {
  const M = Buffer.from(mount, 'utf8');
  const N = Buffer.from(to, 'utf8');
  return Buffer.concat([
    u16(M.length), M, u16(N.length), N, Buffer.from(keyIdHex, 'hex'), createHash('sha256').update(K).digest(),
    Buffer.from(w.epk, 'base64'), Buffer.from(w.nonce, 'base64'), Buffer.from(w.ct, 'base64'), u64(seq),
  ]);
}

interface RefKey { id: string; mount: string; seq: number; wraps: { to: string; epk: string; nonce: string; ct: string; tag?: string }[] }

/** §3.6: per identity, which keys are authenticated, which only open, and the current key. */
export function refVerify(keyring: { keys: RefKey[] }, identity: string, d: Buffer, mount: string | null) {
  const tagKey = refTagKey(d);
  const authenticated: RefKey[] = [];
  const unauthenticated: string[] = [];
  for (const k of keyring.keys) {
    const w = k.wraps.find((x) => x.to === identity);
    if (!w) continue;
    const K = refUnwrap(w, Buffer.from(k.id, 'hex'), d);
    if (!K) continue;
    const ok =
      w.tag !== undefined &&
      k.mount !== '' &&
      (mount === null || k.mount === mount) &&
      timingSafeEqual(Buffer.from(w.tag, 'base64'), createHmac('sha256', tagKey).update(refTagInput(k.mount, identity, k.id, K, w, k.seq)).digest());
    if (ok) authenticated.push(k);
    else unauthenticated.push(k.id);
  }
  let current: RefKey | undefined;
  for (const k of authenticated) if (!current || k.seq > current.seq || (k.seq === current.seq && k.id > current.id)) current = k;
  return { authenticated: authenticated.map((k) => k.id).sort(), unauthenticated: unauthenticated.sort(), current: current?.id ?? null };
}
