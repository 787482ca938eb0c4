// One-off generator of the committed keyring format 2 vectors (run: npx tsx test/vectors/generate-keyring-v2.ts):
// keyring-v2.json (a complete keyring) and keyring-v2-cases.json (the tag KAT and cases that
// must authenticate and must not). The vectors pin the format: NEVER rerun this to make a
// failing test pass; a failing vector test means the format changed. Test-only; writes only test/vectors/.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  computeWrapTag,
  deriveTagKey,
  publicKeyFromPrivate,
  sealIdentity,
  serializeKeyring,
  tagInput,
  wrapMountKey,
  type Keyring,
  type KeyringKey,
} from '../../src/crypto/index.js';
import { queuedRandom } from '../unit/crypto/helpers.js';

const dir = new URL('./', import.meta.url);
const derive = (label: string, n: number) => createHash('sha256').update(label).digest().subarray(0, n);

const MOUNT = 'home:alice';
// Key 1 is the v1 vectors' mount key; key 2 is a newer one (higher sequence number).
const key1 = { id: derive('davcrypt vector key id 1', 16), key: derive('davcrypt vector mount key 1', 32) };
const key2 = { id: derive('davcrypt vector key id 3', 16), key: derive('davcrypt vector mount key 3', 32) };
const planted = { id: derive('davcrypt vector planted key id', 16), key: derive('davcrypt vector planted key', 32) };
const params = { m: 256, t: 2, p: 1 };

const people = {
  'user:alice': { priv: derive('identity alice', 32), password: 'correct horse' },
  recovery: { priv: derive('identity recovery', 32), password: 'recovery pass' },
  master: { priv: derive('identity master', 32), password: undefined },
} as const;
type Name = keyof typeof people;
const names = Object.keys(people) as Name[];

const identities: Keyring['identities'] = {};
for (const name of names) {
  const p = people[name];
  const publicKey = publicKeyFromPrivate(p.priv).toString('base64');
  identities[name] = p.password
    ? {
        publicKey,
        envelope: await sealIdentity(p.priv, name, p.password, params, queuedRandom(derive(`v2 env salt ${name}`, 16), derive(`v2 env nonce ${name}`, 12))),
      }
    : { publicKey };
}

function entryFor(k: { id: Buffer; key: Buffer }, seq: number, created: string, label: string): KeyringKey {
  const entry: KeyringKey = { id: k.id.toString('hex'), mount: MOUNT, seq, created, wraps: [] };
  for (const name of names) {
    const wrap = wrapMountKey(k, publicKeyFromPrivate(people[name].priv), name, queuedRandom(derive(`v2 eph ${label} ${name}`, 32), derive(`v2 nonce ${label} ${name}`, 12)));
    wrap.tag = computeWrapTag(deriveTagKey(people[name].priv), MOUNT, entry, wrap, k.key);
    entry.wraps.push(wrap);
  }
  return entry;
}

const keyring: Keyring = {
  format: 'davcrypt-keyring/2',
  keys: [entryFor(key1, 1, '2026-01-02T03:04:05.000Z', 'k1'), entryFor(key2, 2, '2026-02-03T04:05:06.000Z', 'k2')],
  identities,
};
const text = serializeKeyring(keyring);
writeFileSync(new URL('keyring-v2.json', dir), text);

const base = () => JSON.parse(text);
const id1 = key1.id.toString('hex');
const id2 = key2.id.toString('hex');
const idP = planted.id.toString('hex');
const flip = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  b[0] ^= 0x01;
  return b.toString('base64');
};
const wrapOf = (k: any, i: number, to: string) => k.keys[i].wraps.find((w: any) => w.to === to);

type Expect = Record<string, { authenticated: string[]; unauthenticated: string[]; current: string | null }>;
const all = (authenticated: string[], unauthenticated: string[] = []): Expect =>
  Object.fromEntries(names.map((n) => [n, { authenticated, unauthenticated, current: authenticated.includes(id2) ? id2 : authenticated.includes(id1) ? id1 : null }]));

const cases: { name: string; description: string; mount: string | null; keyring: unknown; expect: Expect | string }[] = [];
const add = (name: string, description: string, mutate: (k: any) => void, expect: Expect | string, mount: string | null = MOUNT) => {
  const k = base();
  mutate(k);
  cases.push({ name, description, mount, keyring: k, expect });
};

add('ok', 'the keyring as written: both keys authenticated for every identity; the current key is key 2 (seq 2)', () => {}, all([id1, id2]));
add('ok-offline', 'the keyring as written, verified without a mount id (offline tools): each key\'s own mount field', () => {}, all([id1, id2]), null);
add('wrong-mount', 'verified against another mount id (the keyring was copied from home:alice to another mount)', () => {}, all([], [id1, id2]), 'home:mallory');
add('mount-field-changed', 'key 2 claims mount "home:bob": it is not the mount verified, and its tags were made for home:alice', (k) => (k.keys[1].mount = 'home:bob'), all([id1], [id2]));
add('mount-field-changed-offline', 'the same, verified without a mount id: the tags do not verify over "home:bob"', (k) => (k.keys[1].mount = 'home:bob'), all([id1], [id2]), null);
add('tampered-tag', 'one bit of user:alice\'s tag on key 2 flipped', (k) => (wrapOf(k, 1, 'user:alice').tag = flip(wrapOf(k, 1, 'user:alice').tag)), {
  ...all([id1, id2]),
  'user:alice': { authenticated: [id1], unauthenticated: [id2], current: id1 },
});
add('tag-removed', 'the tag of user:alice\'s wrap of key 2 removed', (k) => delete wrapOf(k, 1, 'user:alice').tag, {
  ...all([id1, id2]),
  'user:alice': { authenticated: [id1], unauthenticated: [id2], current: id1 },
});
add('tag-from-other-key', 'user:alice\'s tag of key 1 copied onto her wrap of key 2', (k) => (wrapOf(k, 1, 'user:alice').tag = wrapOf(k, 0, 'user:alice').tag), {
  ...all([id1, id2]),
  'user:alice': { authenticated: [id1], unauthenticated: [id2], current: id1 },
});
add('seq-raised', 'key 1 given seq 3 to make it current: every tag of key 1 fails', (k) => (k.keys[0].seq = 3), all([id2], [id1]));
// A planted key: the attacker knows the public keys, makes a key of its own, wraps it to every
// identity (the wraps open!) and gives it the highest seq; it cannot compute any tag.
const plantedEntry = (() => {
  const entry: KeyringKey = { id: idP, mount: MOUNT, seq: 99, created: '2026-03-04T05:06:07.000Z', wraps: [] };
  for (const name of names) {
    const wrap = wrapMountKey(planted, publicKeyFromPrivate(people[name].priv), name, queuedRandom(derive(`v2 eph planted ${name}`, 32), derive(`v2 nonce planted ${name}`, 12)));
    wrap.tag = derive(`v2 guessed tag ${name}`, 32).toString('base64');
    entry.wraps.push(wrap);
  }
  return entry;
})();
add('planted-key', 'a key the storage made, wrapped to every public key, seq 99, with made-up tags: opens, is not authenticated, is not current', (k) => k.keys.push(structuredClone(plantedEntry)), all([id1, id2], [idP]));
add('identity-key-swapped', 'key 2 re-labelled as key 1 is impossible (ids are bound by the wrap AAD); here the wrap of user:alice on key 2 moved to key 1 (replacing hers): it does not open there',
  (k) => {
    const w = wrapOf(k, 1, 'user:alice');
    k.keys[0].wraps = k.keys[0].wraps.map((x: any) => (x.to === 'user:alice' ? structuredClone(w) : x));
  },
  { ...all([id1, id2]), 'user:alice': { authenticated: [id2], unauthenticated: [], current: id2 } },
);
// (More than 1024 keys is refused too: test/unit/crypto/keyring-v2.test.ts builds such a file; it is not stored here.)
add('argon2-m-out-of-bounds', 'user:alice\'s envelope asks m = 262145 KiB: beyond 4 x 65536 (offline default bound)', (k) => (k.identities['user:alice'].envelope.m = 262145), 'DC_ERR_KEYRING_INVALID');
add('argon2-t-out-of-bounds', 'recovery\'s envelope asks t = 17', (k) => (k.identities.recovery.envelope.t = 17), 'DC_ERR_KEYRING_INVALID');
add('argon2-p-out-of-bounds', 'recovery\'s envelope asks p = 17', (k) => (k.identities.recovery.envelope.p = 17), 'DC_ERR_KEYRING_INVALID');
add('two-wraps-one-identity', 'two wraps to user:alice on one key', (k) => k.keys[0].wraps.push(structuredClone(wrapOf(k, 0, 'user:alice'))), 'DC_ERR_KEYRING_INVALID');
add('seq-negative', 'a negative sequence number', (k) => (k.keys[0].seq = -1), 'DC_ERR_KEYRING_INVALID');
add('tag-short', 'a tag of 31 bytes', (k) => (wrapOf(k, 0, 'user:alice').tag = Buffer.alloc(31).toString('base64')), 'DC_ERR_KEYRING_INVALID');

// The tag KAT: user:alice's wrap of key 1.
const alice = people['user:alice'].priv;
const aliceWrap = keyring.keys[0]!.wraps.find((w) => w.to === 'user:alice')!;
const doc = {
  description:
    'davcrypt keyring format 2 vectors (docs/FORMAT.md §3.4-§3.6). Private keys are hex; keyring fields are as stored. ' +
    'For each case, verify the keyring for each identity: its private key opens its wrap, the key\'s mount field must equal ' +
    '`mount` (when `mount` is null, as for offline tools that do not know the mount id, any mount field is accepted), and ' +
    'its tag key must verify the tag over the key\'s mount field. ' +
    '`expect` is either the key ids authenticated / opened but not authenticated per identity, and the current key ' +
    '(highest seq among the authenticated), or the error code parsing must fail with (offline argon2 bounds: m <= 262144, t <= 16, p <= 16).',
  mount: MOUNT,
  keys: { [id1]: key1.key.toString('hex'), [id2]: key2.key.toString('hex'), [idP]: planted.key.toString('hex') },
  identities: Object.fromEntries(
    names.map((n) => [n, { privateKey: people[n].priv.toString('hex'), tagKey: deriveTagKey(people[n].priv).toString('hex'), password: people[n].password ?? null }]),
  ),
  tagKat: {
    identity: 'user:alice',
    privateKey: alice.toString('hex'),
    publicKey: publicKeyFromPrivate(alice).toString('hex'),
    tagKey: deriveTagKey(alice).toString('hex'),
    mount: MOUNT,
    keyId: id1,
    seq: 1,
    key: key1.key.toString('hex'),
    wrap: aliceWrap,
    tagInput: tagInput(MOUNT, keyring.keys[0]!, aliceWrap, key1.key).toString('hex'),
    tag: aliceWrap.tag,
  },
  cases,
};
writeFileSync(new URL('keyring-v2-cases.json', dir), `${JSON.stringify(doc, null, 2)}\n`);
console.log('wrote keyring-v2.json and', cases.length, 'keyring cases');
