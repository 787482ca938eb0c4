// Key wraps, password envelopes and keyrings: known answers from test/vectors/keys-v1.json,
// keyring-v1.json (format 1, still read) and keyring-v2.json, round trips, and the failure codes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ARGON2_PARAMS,
  generateIdentityKeyPair,
  highestKey,
  newMountKey,
  openIdentity,
  openKeyringFor,
  parseKeyring,
  publicKeyFromPrivate,
  sealIdentity,
  serializeKeyring,
  unwrapMountKey,
  wrapMountKey,
  type Keyring,
} from '../../../src/crypto/index.js';
import { queuedRandom } from './helpers.js';

const vectorsDir = new URL('../../vectors/', import.meta.url);
const keysV1 = JSON.parse(readFileSync(new URL('keys-v1.json', vectorsDir), 'utf8'));
const keyringText = readFileSync(new URL('keyring-v1.json', vectorsDir), 'utf8');
const keyringV2Text = readFileSync(new URL('keyring-v2.json', vectorsDir), 'utf8');
const hex = (s: string) => Buffer.from(s, 'hex');
const mountKey = { id: hex(keysV1.keyId), key: hex(keysV1.mountKey) };
const small = { m: 256, t: 1, p: 1 };

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('X25519 identities and key wraps', () => {
  it('derives public keys from private keys (RFC 7748 §6.1 test vector)', () => {
    const alicePriv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    expect(publicKeyFromPrivate(alicePriv).toString('hex')).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const pair = generateIdentityKeyPair();
    expect(pair.privateKey.length).toBe(32);
    expect(publicKeyFromPrivate(pair.privateKey).equals(pair.publicKey)).toBe(true);
  });

  it('wrap matches the known answer and unwraps', () => {
    const v = keysV1.wrap;
    const wrap = wrapMountKey(mountKey, hex(v.recipientPublicKey), v.to, queuedRandom(hex(v.ephemeralPrivateKey), hex(v.nonce)));
    expect(wrap).toEqual(v.expected);
    expect(Buffer.from(wrap.ct, 'base64').length).toBe(48);
    expect(unwrapMountKey(wrap, mountKey.id, hex(v.recipientPrivateKey)).equals(mountKey.key)).toBe(true);
  });

  it('round-trips with random keys; any mismatch is DC_ERR_UNWRAP_FAILED', async () => {
    const alice = generateIdentityKeyPair();
    const bob = generateIdentityKeyPair();
    const k = newMountKey();
    const wrap = wrapMountKey(k, alice.publicKey, 'user:alice');
    expect(unwrapMountKey(wrap, k.id, alice.privateKey).equals(k.key)).toBe(true);
    expect(await codeOf(() => unwrapMountKey(wrap, k.id, bob.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
    expect(await codeOf(() => unwrapMountKey(wrap, Buffer.alloc(16), alice.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
    const flipped = Buffer.from(wrap.ct, 'base64');
    flipped[3]! ^= 1;
    expect(await codeOf(() => unwrapMountKey({ ...wrap, ct: flipped.toString('base64') }, k.id, alice.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
    const otherEpk = generateIdentityKeyPair().publicKey.toString('base64');
    expect(await codeOf(() => unwrapMountKey({ ...wrap, epk: otherEpk }, k.id, alice.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
    expect(await codeOf(() => unwrapMountKey({ ...wrap, epk: Buffer.alloc(32).toString('base64') }, k.id, alice.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
    expect(await codeOf(() => unwrapMountKey({ ...wrap, nonce: 'AAAA' }, k.id, alice.privateKey))).toBe('DC_ERR_UNWRAP_FAILED');
  });
});

describe('password envelopes', () => {
  it('has the documented default parameters', () => {
    expect(DEFAULT_ARGON2_PARAMS).toEqual({ m: 65536, t: 3, p: 4 });
  });

  it('envelope matches the known answer and opens', async () => {
    const v = keysV1.envelope;
    const env = await sealIdentity(hex(v.privateKey), v.identityName, v.password, v.params, queuedRandom(hex(v.salt), hex(v.nonce)));
    expect(env).toEqual(v.expected);
    expect((await openIdentity(env, v.identityName, v.password)).equals(hex(v.privateKey))).toBe(true);
  });

  it('wrong password, wrong identity name or altered envelope: DC_ERR_WRONG_PASSWORD', async () => {
    const { privateKey } = generateIdentityKeyPair();
    const env = await sealIdentity(privateKey, 'user:bob', 'pässwörd 🔑', small);
    expect((await openIdentity(env, 'user:bob', 'pässwörd 🔑')).equals(privateKey)).toBe(true);
    expect(await codeOf(() => openIdentity(env, 'user:bob', 'password'))).toBe('DC_ERR_WRONG_PASSWORD');
    expect(await codeOf(() => openIdentity(env, 'user:alice', 'pässwörd 🔑'))).toBe('DC_ERR_WRONG_PASSWORD');
    expect(await codeOf(() => openIdentity({ ...env, t: 2 }, 'user:bob', 'pässwörd 🔑'))).toBe('DC_ERR_WRONG_PASSWORD');
    expect(await codeOf(() => openIdentity({ ...env, m: 2 ** 30 }, 'user:bob', 'x'))).toBe('DC_ERR_KEYRING_INVALID');
    expect(await codeOf(() => openIdentity({ ...env, salt: 'AAAA' }, 'user:bob', 'x'))).toBe('DC_ERR_KEYRING_INVALID');
    expect(await codeOf(() => sealIdentity(privateKey, 'user:bob', 'x', { m: 4, t: 1, p: 1 }))).toBe('DC_ERR_BAD_REQUEST');
  });
});

describe('keyring', () => {
  it('reads the format 1 example keyring: format 2 shape, seq by order (current last), no tags; every identity opens the mount key', async () => {
    const kr = parseKeyring(keyringText);
    expect(kr.readFrom).toBe('davcrypt-keyring/1');
    expect(kr.format).toBe('davcrypt-keyring/2');
    expect(highestKey(kr.keys)!.id).toBe(keysV1.keyId);
    expect(kr.keys[0]!.seq).toBe(1);
    expect(kr.keys[0]!.mount).toBe('');
    expect(kr.keys[0]!.wraps.every((w) => w.tag === undefined)).toBe(true);
    // A format 1 keyring cannot be written back until a mount id is given (then it is format 2).
    expect(() => serializeKeyring(kr)).toThrow(expect.objectContaining({ code: 'DC_ERR_KEYRING_INVALID' }));
    const key = kr.keys[0]!;
    for (const [name, password] of Object.entries(keysV1.keyringPasswords as Record<string, string>)) {
      const priv = await openIdentity(kr.identities[name]!.envelope!, name, password);
      const wrap = key.wraps.find((w) => w.to === name)!;
      expect(unwrapMountKey(wrap, hex(key.id), priv).equals(mountKey.key)).toBe(true);
      // ...but nothing in a format 1 keyring is authenticated.
      const opened = openKeyringFor(kr, name, priv);
      expect([...opened.unauthenticated.keys()]).toEqual([key.id]);
      expect(opened.authenticated.size).toBe(0);
    }
    const masterWrap = key.wraps.find((w) => w.to === 'master')!;
    expect(unwrapMountKey(masterWrap, hex(key.id), hex(keysV1.masterPrivateKey)).equals(mountKey.key)).toBe(true);
    expect(kr.identities.master!.envelope).toBeUndefined();
  });

  it('format 1: the current key gets the highest seq wherever it is in the array', () => {
    const k = JSON.parse(keyringText);
    const first = k.keys[0];
    k.keys.push({ ...structuredClone(first), id: 'a'.repeat(32) });
    k.keys.unshift({ ...structuredClone(first), id: 'b'.repeat(32) });
    const kr = parseKeyring(k);
    expect(kr.keys.map((e) => [e.id.slice(0, 2), e.seq])).toEqual([['bb', 1], [keysV1.keyId.slice(0, 2), 3], ['aa', 2]]);
    expect(highestKey(kr.keys)!.id).toBe(keysV1.keyId);
  });

  it('serializes format 2 stably (field order, keys by seq, sorted identities and wraps, trailing newline) and round-trips', () => {
    const kr = parseKeyring(keyringV2Text);
    const shuffled = { identities: Object.fromEntries(Object.entries(kr.identities).reverse()), keys: [...kr.keys].reverse(), format: kr.format } as Keyring;
    expect(serializeKeyring(shuffled)).toBe(keyringV2Text);
    expect(keyringV2Text.endsWith('}\n')).toBe(true);
    expect(parseKeyring(JSON.parse(keyringV2Text))).toEqual(kr);
  });

  const mutations: [string, 'v1' | 'v2', (k: any) => void, string][] = [
    ['format', 'v1', (k) => (k.format = 'davcrypt-keyring/3'), 'format'],
    ['current in format 2', 'v2', (k) => (k.current = k.keys[0].id), '(root).current'],
    ['current not hex', 'v1', (k) => (k.current = 'ABC'), 'current'],
    ['current not a key', 'v1', (k) => (k.current = '0'.repeat(32)), 'current'],
    ['tag in format 1', 'v1', (k) => (k.keys[0].wraps[0].tag = Buffer.alloc(32).toString('base64')), 'keys[0].wraps[0].tag'],
    ['keys empty', 'v2', (k) => (k.keys = []), 'keys'],
    ['key id uppercase', 'v2', (k) => (k.keys[0].id = k.keys[0].id.toUpperCase()), 'keys[0].id'],
    ['duplicate key', 'v2', (k) => k.keys.push(structuredClone(k.keys[0])), 'keys[2].id'],
    ['mount missing', 'v2', (k) => delete k.keys[0].mount, 'keys[0].mount'],
    ['mount empty', 'v2', (k) => (k.keys[0].mount = ''), 'keys[0].mount'],
    ['seq not an integer', 'v2', (k) => (k.keys[0].seq = 1.5), 'keys[0].seq'],
    ['seq too large', 'v2', (k) => (k.keys[0].seq = 2 ** 53), 'keys[0].seq'],
    ['created', 'v2', (k) => (k.keys[0].created = 'yesterday'), 'keys[0].created'],
    ['wraps missing', 'v2', (k) => delete k.keys[0].wraps, 'keys[0].wraps'],
    ['wrap epk length', 'v2', (k) => (k.keys[0].wraps[1].epk = 'AAAA'), 'keys[0].wraps[1].epk'],
    ['wrap ct not base64', 'v2', (k) => (k.keys[0].wraps[0].ct = 'not base64!'), 'keys[0].wraps[0].ct'],
    ['wrap nonce unpadded', 'v2', (k) => (k.keys[0].wraps[0].nonce = k.keys[0].wraps[0].nonce + 'AA'), 'keys[0].wraps[0].nonce'],
    ['wrap tag length', 'v2', (k) => (k.keys[0].wraps[0].tag = 'AAAA'), 'keys[0].wraps[0].tag'],
    ['wrap to unknown identity', 'v2', (k) => (k.keys[0].wraps[0].to = 'user:mallory'), 'keys[0].wraps[0].to'],
    ['wrap to a prototype name', 'v2', (k) => (k.keys[0].wraps[0].to = 'constructor'), 'keys[0].wraps[0].to'],
    ['identity name', 'v2', (k) => (k.identities['admin'] = k.identities['recovery']), 'identities["admin"]'],
    ['master with envelope', 'v2', (k) => (k.identities.master.envelope = k.identities.recovery.envelope), 'identities["master"].envelope'],
    ['user without envelope', 'v2', (k) => delete k.identities['user:alice'].envelope, 'identities["user:alice"].envelope'],
    ['envelope kdf', 'v2', (k) => (k.identities.recovery.envelope.kdf = 'scrypt'), 'identities["recovery"].envelope.kdf'],
    ['envelope m', 'v2', (k) => (k.identities.recovery.envelope.m = 1e12), 'identities["recovery"].envelope.m'],
    ['envelope t', 'v2', (k) => (k.identities.recovery.envelope.t = 1.5), 'identities["recovery"].envelope.t'],
    ['public key', 'v2', (k) => (k.identities.recovery.publicKey = ''), 'identities["recovery"].publicKey'],
    ['unknown field', 'v2', (k) => (k.extra = 1), '(root).extra'],
    ['unknown key field', 'v2', (k) => (k.keys[0].current = true), 'keys[0].current'],
  ];
  for (const [name, base, mutate, field] of mutations) {
    it(`rejects ${name} naming ${field}`, () => {
      const k = JSON.parse(base === 'v1' ? keyringText : keyringV2Text);
      mutate(k);
      let err: { code?: string; details?: { field?: string }; message?: string } | undefined;
      try {
        parseKeyring(k);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe('DC_ERR_KEYRING_INVALID');
      expect(err?.details?.field).toBe(field);
      expect(err?.message).toContain(field);
    });
  }

  it('rejects non-JSON and non-objects', async () => {
    expect(await codeOf(() => parseKeyring('{'))).toBe('DC_ERR_KEYRING_INVALID');
    expect(await codeOf(() => parseKeyring('[]'))).toBe('DC_ERR_KEYRING_INVALID');
    expect(await codeOf(() => parseKeyring(null))).toBe('DC_ERR_KEYRING_INVALID');
  });

  it('newMountKey draws id then key from the random source', () => {
    const k = newMountKey(queuedRandom(Buffer.alloc(16, 1), Buffer.alloc(32, 2)));
    expect(k.id.equals(Buffer.alloc(16, 1))).toBe(true);
    expect(k.key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(newMountKey().key.equals(newMountKey().key)).toBe(false);
  });
});
