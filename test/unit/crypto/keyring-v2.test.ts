// Keyring format 2 (docs/FORMAT.md §3.4-§3.6): the committed vectors (test/vectors/keyring-v2*.json)
// must give the same answer through src/crypto and through a spec-literal verifier written from
// FORMAT.md alone (keyring-reference.ts); parse bounds are answered before any work.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  KEYRING_LIMITS,
  computeWrapTag,
  deriveTagKey,
  foreignEnvelopeBounds,
  highestKey,
  openKeyringFor,
  parseKeyring,
  serializeKeyring,
  tagInput,
  type Keyring,
} from '../../../src/crypto/index.js';
import { refTagInput, refTagKey, refVerify } from './keyring-reference.js';

const load = (file: string) => readFileSync(new URL(`../../vectors/${file}`, import.meta.url), 'utf8');
const keyringText = load('keyring-v2.json');
const doc = JSON.parse(load('keyring-v2-cases.json'));
const hex = (s: string) => Buffer.from(s, 'hex');
const OFFLINE = foreignEnvelopeBounds();

interface Case {
  name: string;
  description: string;
  mount: string | null;
  keyring: unknown;
  expect: string | Record<string, { authenticated: string[]; unauthenticated: string[]; current: string | null }>;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('keyring format 2 vectors', () => {
  it('the tag KAT: tag key, tag input bytes and tag (src and the reference agree)', () => {
    const k = doc.tagKat;
    const d = hex(k.privateKey);
    expect(deriveTagKey(d).toString('hex')).toBe(k.tagKey);
    expect(refTagKey(d).toString('hex')).toBe(k.tagKey);
    const entry = { id: k.keyId, seq: k.seq };
    expect(tagInput(k.mount, entry, k.wrap, hex(k.key)).toString('hex')).toBe(k.tagInput);
    expect(refTagInput(k.mount, k.identity, k.keyId, hex(k.key), k.wrap, k.seq).toString('hex')).toBe(k.tagInput);
    expect(computeWrapTag(hex(k.tagKey), k.mount, entry, k.wrap, hex(k.key))).toBe(k.tag);
    // The input layout, spelled out: u16 |M| M u16 |N| N KID SHA-256(K) E nonce ct u64 seq.
    const input = hex(k.tagInput);
    expect(input.readUInt16BE(0)).toBe(k.mount.length);
    expect(input.length).toBe(2 + k.mount.length + 2 + k.identity.length + 16 + 32 + 32 + 12 + 48 + 8);
    expect(input.readBigUInt64BE(input.length - 8)).toBe(BigInt(k.seq));
  });

  it('keyring-v2.json parses, serializes to the same bytes, and its current key is key 2', () => {
    const kr = parseKeyring(keyringText);
    expect(serializeKeyring(kr)).toBe(keyringText);
    const shuffled = { identities: Object.fromEntries(Object.entries(kr.identities).reverse()), keys: [...kr.keys].reverse(), format: kr.format } as Keyring;
    expect(serializeKeyring(shuffled)).toBe(keyringText);
    expect(highestKey(kr.keys)!.seq).toBe(2);
    expect(kr.readFrom).toBeUndefined();
  });

  for (const c of doc.cases as Case[]) {
    it(`${c.name}: ${c.description}`, () => {
      if (typeof c.expect === 'string') {
        expect(codeOf(() => parseKeyring(c.keyring, { argon2: OFFLINE }))).toBe(c.expect);
        return;
      }
      const kr = parseKeyring(c.keyring, { argon2: OFFLINE });
      for (const [identity, want] of Object.entries(c.expect)) {
        const d = hex(doc.identities[identity].privateKey);
        const ref = refVerify(c.keyring as { keys: never[] }, identity, d, c.mount);
        expect(ref, `reference, ${identity}`).toEqual(want);
        const got = openKeyringFor(kr, identity, d, c.mount === null ? {} : { mount: c.mount });
        const authenticated = [...got.authenticated.keys()].sort();
        expect({ authenticated, unauthenticated: [...got.unauthenticated.keys()].sort() }, `src, ${identity}`).toEqual({
          authenticated: want.authenticated,
          unauthenticated: want.unauthenticated,
        });
        expect(highestKey(kr.keys.filter((k) => authenticated.includes(k.id)))?.id ?? null).toBe(want.current);
        for (const id of authenticated) expect(got.authenticated.get(id)!.toString('hex')).toBe(doc.keys[id]);
      }
    });
  }
});

describe('keyring bounds (FORMAT.md §3.5)', () => {
  const big = () => {
    const k = JSON.parse(keyringText);
    for (let i = 0; i < 40_000; i++) k.keys.push({ ...k.keys[0], id: ('a' + i.toString(16)).padStart(32, '0'), wraps: [] });
    return JSON.stringify(k);
  };

  it('40 000 keys: DC_ERR_KEYRING_INVALID naming keys, in well under a second', () => {
    const text = big();
    const t0 = performance.now();
    let err: { code?: string; details?: { field?: string } } | undefined;
    try {
      parseKeyring(text);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('DC_ERR_KEYRING_INVALID');
    expect(err?.details?.field).toBe('keys');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('1025 keys, 4097 identities, 65537 wraps and a file over 16 MiB are refused; 1024 keys are fine', () => {
    const k = JSON.parse(keyringText);
    const ok = structuredClone(k);
    for (let i = 2; i < KEYRING_LIMITS.maxKeys; i++) ok.keys.push({ ...ok.keys[0], id: ('a' + i.toString(16)).padStart(32, '0'), wraps: [] });
    expect(parseKeyring(ok).keys).toHaveLength(1024);
    ok.keys.push({ ...ok.keys[0], id: 'e'.repeat(32), wraps: [] });
    expect(codeOf(() => parseKeyring(ok))).toBe('DC_ERR_KEYRING_INVALID');
    const ids = structuredClone(k);
    for (let i = 0; i < 4097; i++) ids.identities[`user:u${i}`] = ids.identities['user:alice'];
    expect(codeOf(() => parseKeyring(ids))).toBe('DC_ERR_KEYRING_INVALID');
    const wraps = structuredClone(k);
    for (let i = 0; i < 65537; i++) wraps.keys[0].wraps.push(wraps.keys[0].wraps[0]);
    expect(codeOf(() => parseKeyring(wraps))).toBe('DC_ERR_KEYRING_INVALID');
    expect(codeOf(() => parseKeyring(' '.repeat(KEYRING_LIMITS.maxBytes + 1)))).toBe('DC_ERR_KEYRING_INVALID');
  });

  it('argon2 bounds for envelopes the reader did not write: 4x the configured m, t <= 16, p <= 16', () => {
    expect(foreignEnvelopeBounds({ m: 65536, t: 3, p: 4 })).toEqual({ maxM: 262144, maxT: 16, maxP: 16 });
    expect(foreignEnvelopeBounds({ m: 1024, t: 1, p: 1 })).toEqual({ maxM: 4096, maxT: 16, maxP: 16 });
    const k = JSON.parse(keyringText);
    k.identities['user:alice'].envelope.m = 4097;
    expect(codeOf(() => parseKeyring(k, { argon2: foreignEnvelopeBounds({ m: 1024, t: 1, p: 1 }) }))).toBe('DC_ERR_KEYRING_INVALID');
    expect(parseKeyring(k, { argon2: foreignEnvelopeBounds() }).identities['user:alice']!.envelope!.m).toBe(4097);
    k.identities['user:alice'].envelope.m = 1_048_576;
    k.identities['user:alice'].envelope.t = 64;
    expect(codeOf(() => parseKeyring(k, { argon2: foreignEnvelopeBounds() }))).toBe('DC_ERR_KEYRING_INVALID');
  });
});
