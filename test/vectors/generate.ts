// One-off generator of the committed v1 test vectors (run: npx tsx test/vectors/generate.ts).
// The vectors pin the wire format: NEVER rerun this to make a failing test pass; a
// failing vector test means the format changed. Test-only; writes only test/vectors/.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  TAG_BYTES,
  deriveFileKeys,
  encodeHeader,
  parseHeader,
  sealSegment,
  createEncryptStream,
  wrapMountKey,
  sealIdentity,
  publicKeyFromPrivate,
  type KeyringIdentity,
  type KeyWrap,
} from '../../src/crypto/index.js';
import { pattern, queuedRandom, sha256 } from '../unit/crypto/helpers.js';

const dir = new URL('./', import.meta.url);
const h = (s: string) => Buffer.from(s, 'hex');
const derive = (label: string, n: number) => createHash('sha256').update(label).digest().subarray(0, n);

const mountKey = derive('davcrypt vector mount key 1', 32);
const keyId = derive('davcrypt vector key id 1', 16);
const otherKeyId = derive('davcrypt vector key id 2', 16);

async function encrypt(plain: Buffer, e: number, salt: Buffer, noncePrefix: Buffer): Promise<Buffer> {
  const enc = createEncryptStream({ key: { id: keyId, key: mountKey }, segmentExponent: e, random: queuedRandom(salt, noncePrefix) });
  return buffer(Readable.from([plain]).pipe(enc));
}

// Builds a file segment by segment with explicit last flags (to make "last flag moved" vectors).
function craft(plain: Buffer, e: number, salt: Buffer, noncePrefix: Buffer, lastFlags: boolean[]): Buffer {
  const header = encodeHeader({ segmentExponent: e, keyId, salt, noncePrefix });
  const keys = deriveFileKeys(mountKey, parseHeader(header));
  const S = 2 ** e;
  const parts = [header];
  lastFlags.forEach((last, i) => {
    const { cipherText, tag } = sealSegment(keys, noncePrefix, i, last, plain.subarray(i * S, (i + 1) * S));
    parts.push(cipherText, tag);
  });
  return Buffer.concat(parts);
}

const cases: Record<string, unknown>[] = [];
const golden: Record<string, Buffer> = {};
const okCases: [string, number, number][] = [
  ['empty', 16, 0],
  ['one-byte', 16, 1],
  ['hundred-bytes-golden', 16, 100],
  ['e12-S-minus-1', 12, 4095],
  ['e12-S', 12, 4096],
  ['e12-S-plus-1', 12, 4097],
  ['e12-2S-golden', 12, 2 * 4096],
  ['e12-3S', 12, 3 * 4096],
  ['e12-10000-golden', 12, 10000],
  ['e12-other-9000-golden', 12, 9000],
  ['e16-200000', 16, 200000],
];
for (const [name, e, plainSize] of okCases) {
  const salt = derive(`salt ${name}`, 32);
  const noncePrefix = derive(`nonce ${name}`, 7);
  const plain = pattern(plainSize);
  const cipher = await encrypt(plain, e, salt, noncePrefix);
  const header = parseHeader(cipher);
  const keys = deriveFileKeys(mountKey, header);
  const entry: Record<string, unknown> = {
    name,
    segmentExponent: e,
    salt: salt.toString('hex'),
    noncePrefix: noncePrefix.toString('hex'),
    plainSize,
    plainSha256: sha256(plain),
    header: header.bytes.toString('hex'),
    aesKey: keys.aesKey.toString('hex'),
    macKey: keys.macKey.toString('hex'),
    cipherSize: cipher.length,
    cipherSha256: sha256(cipher),
    expect: 'ok',
  };
  if (cipher.length <= 400) entry.cipherHex = cipher.toString('hex');
  if (name.endsWith('-golden')) {
    const file = `golden/v1-${name.replace(/-golden$/, '')}.dc`;
    golden[file] = cipher;
    entry.golden = file;
  }
  cases.push(entry);
}

// Crafted failures. Header damage is applied to the 100-byte file; last-flag damage needs a
// key holder, so those files are built segment by segment with chosen flags (e = 12, S + 1 bytes).
const small = golden['golden/v1-hundred-bytes.dc']!;
const S = 4096;
const plain2 = pattern(S + 1);
const salt = derive('salt crafted', 32);
const noncePrefix = derive('nonce crafted', 7);
const failCases: [string, Buffer, string, number][] = [
  ['crafted-ok', craft(plain2, 12, salt, noncePrefix, [false, true]), 'ok', S + 1],
  ['last-flag-on-first', craft(plain2, 12, salt, noncePrefix, [true, true]), 'DC_ERR_TRAILING_DATA', S + 1],
  ['no-last-flag', craft(plain2, 12, salt, noncePrefix, [false, false]), 'DC_ERR_TRUNCATED', S + 1],
  ['bad-magic', Buffer.concat([Buffer.from('DAVCRYPX'), small.subarray(8)]), 'DC_ERR_NOT_ENCRYPTED', 100],
  ['version-2', Buffer.concat([small.subarray(0, 8), h('02'), small.subarray(9)]), 'DC_ERR_UNSUPPORTED_VERSION', 100],
  ['exponent-11', Buffer.concat([small.subarray(0, 9), h('0b'), small.subarray(10)]), 'DC_ERR_BAD_HEADER', 100],
  ['exponent-25', Buffer.concat([small.subarray(0, 9), h('19'), small.subarray(10)]), 'DC_ERR_BAD_HEADER', 100],
  ['unknown-key-id', Buffer.concat([small.subarray(0, 10), otherKeyId, small.subarray(26)]), 'DC_ERR_UNKNOWN_KEY', 100],
  ['header-only', small.subarray(0, 65), 'DC_ERR_TRUNCATED', 100],
  ['short-header', small.subarray(0, 64), 'DC_ERR_BAD_HEADER', 100],
];
for (const [name, cipher, expect, plainSize] of failCases) {
  const entry: Record<string, unknown> = {
    name,
    plainSize,
    plainSha256: sha256(pattern(plainSize)),
    cipherSize: cipher.length,
    cipherSha256: sha256(cipher),
    expect,
  };
  if (cipher.length <= 400) entry.cipherHex = cipher.toString('hex');
  else {
    entry.golden = `golden/v1-${name}.dc`;
    golden[`golden/v1-${name}.dc`] = cipher;
  }
  cases.push(entry);
}

const formatDoc = {
  description:
    'davcrypt file format v1 known-answer vectors (docs/FORMAT.md). Plaintext of plainSize bytes is byte i = i mod 251. ' +
    'All cases use mountKey/keyId below. "ok" cases: encrypting with salt and noncePrefix must give exactly cipherHex / ' +
    'the golden file (cipherSha256); decrypting must give the plaintext. Other cases must fail with the given code.',
  mountKey: mountKey.toString('hex'),
  keyId: keyId.toString('hex'),
  tagBytes: TAG_BYTES,
  cases,
};
writeFileSync(new URL('format-v1.json', dir), `${JSON.stringify(formatDoc, null, 2)}\n`);
for (const [file, data] of Object.entries(golden)) writeFileSync(new URL(file, dir), data);

// Key wrap and envelope KATs, and a complete example keyring.
const alicePriv = derive('identity alice', 32);
const recoveryPriv = derive('identity recovery', 32);
const masterPriv = derive('identity master', 32);
const eph = derive('ephemeral 1', 32);
const wrapNonce = derive('wrap nonce 1', 12);
const wrap = wrapMountKey({ id: keyId, key: mountKey }, publicKeyFromPrivate(alicePriv), 'user:alice', queuedRandom(eph, wrapNonce));
const params = { m: 256, t: 2, p: 1 };
const envSalt = derive('envelope salt alice', 16);
const envNonce = derive('envelope nonce alice', 12);
const envelope = await sealIdentity(alicePriv, 'user:alice', 'correct horse', params, queuedRandom(envSalt, envNonce));
const recEnvelope = await sealIdentity(recoveryPriv, 'recovery', 'recovery pass', params, queuedRandom(derive('env salt rec', 16), derive('env nonce rec', 12)));
// Keyring format 1 (FORMAT.md §3.3.1), written as davcrypt wrote it before format 2.
interface KeyringV1 {
  format: 'davcrypt-keyring/1';
  current: string;
  keys: { id: string; created: string; wraps: KeyWrap[] }[];
  identities: Record<string, KeyringIdentity>;
}
const serializeKeyringV1 = (k: KeyringV1) => {
  const identities = Object.fromEntries(Object.keys(k.identities).sort().map((n) => [n, k.identities[n]]));
  return `${JSON.stringify({ format: k.format, current: k.current, keys: k.keys, identities }, null, 2)}\n`;
};
const keyring: KeyringV1 = {
  format: 'davcrypt-keyring/1',
  current: keyId.toString('hex'),
  keys: [
    {
      id: keyId.toString('hex'),
      created: '2026-01-02T03:04:05.000Z',
      wraps: [
        wrap,
        wrapMountKey({ id: keyId, key: mountKey }, publicKeyFromPrivate(recoveryPriv), 'recovery', queuedRandom(derive('eph rec', 32), derive('nonce rec', 12))),
        wrapMountKey({ id: keyId, key: mountKey }, publicKeyFromPrivate(masterPriv), 'master', queuedRandom(derive('eph master', 32), derive('nonce master', 12))),
      ],
    },
  ],
  identities: {
    'user:alice': { publicKey: publicKeyFromPrivate(alicePriv).toString('base64'), envelope },
    recovery: { publicKey: publicKeyFromPrivate(recoveryPriv).toString('base64'), envelope: recEnvelope },
    master: { publicKey: publicKeyFromPrivate(masterPriv).toString('base64') },
  },
};
const keysDoc = {
  description:
    'davcrypt key wrap and password envelope known-answer vectors (docs/FORMAT.md). Binary values are hex except ' +
    'the expected wrap/envelope and keyring fields, which are standard base64 as stored.',
  mountKey: mountKey.toString('hex'),
  keyId: keyId.toString('hex'),
  wrap: {
    recipientPrivateKey: alicePriv.toString('hex'),
    recipientPublicKey: publicKeyFromPrivate(alicePriv).toString('hex'),
    ephemeralPrivateKey: eph.toString('hex'),
    nonce: wrapNonce.toString('hex'),
    to: 'user:alice',
    expected: wrap,
  },
  envelope: {
    privateKey: alicePriv.toString('hex'),
    identityName: 'user:alice',
    password: 'correct horse',
    params,
    salt: envSalt.toString('hex'),
    nonce: envNonce.toString('hex'),
    expected: envelope,
  },
  keyringPasswords: { 'user:alice': 'correct horse', recovery: 'recovery pass' },
  masterPrivateKey: masterPriv.toString('hex'),
};
writeFileSync(new URL('keys-v1.json', dir), `${JSON.stringify(keysDoc, null, 2)}\n`);
writeFileSync(new URL('keyring-v1.json', dir), serializeKeyringV1(keyring));
console.log('wrote', cases.length, 'format cases,', Object.keys(golden).length, 'golden files');
