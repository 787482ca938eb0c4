// Unit tests of the custody pieces in src/keys: keyring edits (wrap, remove,
// rotate, drop, unwrap), the store markers (recovery, revocations, index, epoch)
// and the master key file (create once, 0600, refuses open modes and garbage).
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deriveTagKey, generateIdentityKeyPair, newMountKey, openKeyringFor, parseKeyring, serializeKeyring, type Keyring } from '../../../src/crypto/index.js';
import {
  addCurrentKey,
  bumpKeysEpoch,
  createMasterKeyFile,
  currentId,
  dropKeysExcept,
  importAuthenticated,
  keysEpoch,
  markRevoked,
  mergeEscrow,
  readMasterKeyFile,
  recipientsOf,
  removeIdentity,
  revokedUsers,
  tagHeld,
  unwrapEvery,
  wrapKeysTo,
} from '../../../src/keys/index.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { requireMountId } from '../../../src/keys/mount-id.js';

/** A mount id from its stored form (the form the keyring tags and the store use). */
const mid = (text: string) => requireMountId(text, 'test');

const alice = generateIdentityKeyPair();
const bob = generateIdentityKeyPair();
const id = (name: string, pair: { publicKey: Buffer }) => ({ name, publicKey: pair.publicKey });

const MOUNT = 'shared:/t';
/** Envelope-shaped filler for identities other than master (the format requires one; never opened here). */
const filler = { kdf: 'argon2id' as const, m: 64, t: 1, p: 1, salt: Buffer.alloc(16).toString('base64'), nonce: Buffer.alloc(12).toString('base64'), ct: Buffer.alloc(48).toString('base64') };

function ringWith(keys = [newMountKey()]): Keyring {
  const ring: Keyring = { format: 'davcrypt-keyring/2', keys: [], identities: {} };
  keys.forEach((k, i) => ring.keys.push({ id: k.id.toString('hex'), mount: MOUNT, seq: i + 1, created: new Date().toISOString(), wraps: [] }));
  return ring;
}

describe('keyring edits', () => {
  it('wrapKeysTo adds the identity and one wrap per held key, idempotently; a changed public key drops the old wraps', () => {
    const keys = [newMountKey(), newMountKey()];
    const ring = ringWith(keys);
    // master has no envelope: allowed by the format only for that name.
    expect(wrapKeysTo(ring, keys, id('master', alice))).toBe(2);
    expect(wrapKeysTo(ring, keys, id('master', alice))).toBe(0);
    expect(unwrapEvery(ring, 'master', alice.privateKey).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
    expect(wrapKeysTo(ring, [keys[0]!], id('master', bob))).toBe(1);
    expect(ring.identities.master!.publicKey).toBe(bob.publicKey.toString('base64'));
    const { keys: opened, missing } = unwrapEvery(ring, 'master', bob.privateKey);
    expect(opened).toHaveLength(1);
    expect(missing).toEqual([keys[1]!.id.toString('hex')]);
    expect(() => serializeKeyring(ring)).not.toThrow();
  });

  it('removeIdentity removes wraps and entry; addCurrentKey wraps the new key to everyone left; dropKeysExcept keeps current', () => {
    const first = newMountKey();
    const ring = ringWith([first]);
    wrapKeysTo(ring, [first], id('master', alice));
    wrapKeysTo(ring, [first], id('recovery', bob));
    expect(removeIdentity(ring, 'master')).toBe(1);
    expect(recipientsOf(ring).map((r) => r.name)).toEqual(['recovery']);
    const next = addCurrentKey(ring, mid(MOUNT));
    expect(currentId(ring)).toBe(next.id.toString('hex'));
    expect(ring.keys.at(-1)!.seq).toBe(2);
    expect(ring.keys.at(-1)!.wraps.map((w) => w.to)).toEqual(['recovery']);
    expect(unwrapEvery(ring, 'recovery', bob.privateKey).keys.map((k) => k.key.toString('hex'))).toEqual([first.key, next.key].map((k) => k.toString('hex')));
    expect(dropKeysExcept(ring, new Set())).toEqual([first.id.toString('hex')]);
    expect(ring.keys.map((k) => k.id)).toEqual([currentId(ring)]);
  });

  it('new wraps carry the keyring tag of each identity whose tag key is given; tagHeld fixes missing or wrong ones', () => {
    const k = newMountKey();
    const ring = ringWith([k]);
    const tagKeys = new Map([['master', deriveTagKey(alice.privateKey)]]);
    wrapKeysTo(ring, [k], id('master', alice), tagKeys);
    wrapKeysTo(ring, [k], id('recovery', bob));
    const byTo = (to: string) => ring.keys[0]!.wraps.find((w) => w.to === to)!;
    expect(openKeyringFor(ring, 'master', alice.privateKey, { mount: MOUNT }).authenticated.size).toBe(1);
    expect(byTo('recovery').tag).toBeUndefined();
    expect(openKeyringFor(ring, 'master', alice.privateKey, { mount: 'shared:/other' }).authenticated.size).toBe(0);
    // The recovery tag key is known to the gateway (store): tagging a held key's wrap makes it authenticated.
    expect(tagHeld(ring, [k], new Map([['recovery', deriveTagKey(bob.privateKey)]]))).toBe(1);
    expect(openKeyringFor(ring, 'recovery', bob.privateKey).authenticated.size).toBe(1);
    byTo('master').tag = byTo('recovery').tag;
    expect(tagHeld(ring, [k], tagKeys)).toBe(1);
    expect(tagHeld(ring, [k], tagKeys)).toBe(0);
    expect(openKeyringFor(ring, 'master', alice.privateKey).authenticated.size).toBe(1);
    // addCurrentKey: the next seq, wraps only to given recipients the keyring holds with that key, tagged.
    const next = addCurrentKey(ring, mid(MOUNT), { tagKeys, recipients: [id('master', alice), id('user:mallory', bob), id('recovery', alice)] });
    expect(ring.keys.at(-1)!.wraps.map((w) => w.to)).toEqual(['master']);
    expect(openKeyringFor(ring, 'master', alice.privateKey, { mount: MOUNT }).authenticated.get(next.id.toString('hex'))?.equals(next.key)).toBe(true);
  });

  it('addCurrentKey refuses to go past the largest sequence number (a key planted with seq 2^53 - 1 cannot win by overflow)', () => {
    const k = newMountKey();
    const ring = ringWith([k]);
    ring.keys[0]!.seq = Number.MAX_SAFE_INTEGER;
    expect(() => addCurrentKey(ring, mid(MOUNT))).toThrow(expect.objectContaining({ code: 'DC_ERR_KEYRING_INVALID' }));
    expect(ring.keys).toHaveLength(1);
  });

  it('importAuthenticated takes over only keys an opener\'s own tag vouches for, and no identity from the backend', () => {
    const [k1, k2] = [newMountKey(), newMountKey()];
    const remote = ringWith([k1, k2]);
    const aliceTags = new Map([['user:alice', deriveTagKey(alice.privateKey)]]);
    wrapKeysTo(remote, [k1], id('user:alice', alice), aliceTags);
    // k2: wrapped to alice's public key (the storage can do that), tag made up.
    wrapKeysTo(remote, [k2], id('user:alice', alice));
    remote.keys[1]!.wraps[0]!.tag = Buffer.alloc(32, 7).toString('base64');
    remote.identities['user:alice']!.publicKey = bob.publicKey.toString('base64'); // planted identity entry
    const trusted = ringWith([]);
    const opener = { name: 'user:alice', privateKey: alice.privateKey };
    const info = (name: string) => (name === 'user:alice' ? { name, publicKey: alice.publicKey } : undefined);
    const result = importAuthenticated(trusted, remote, MOUNT, [opener], aliceTags, info);
    expect(result.keys).toEqual([k1.id.toString('hex')]);
    expect(trusted.keys.map((k) => k.id)).toEqual([k1.id.toString('hex')]);
    expect(trusted.identities['user:alice']).toBeUndefined(); // no envelope at hand: the wrap needs one (not master)
    // For another mount id nothing is taken over.
    expect(importAuthenticated(ringWith([]), remote, 'shared:/other', [opener], aliceTags, info).keys).toEqual([]);
  });

  it('mergeEscrow keeps backend-only entries, lets the trusted ones win, and drops what the edit removed', () => {
    const [k1, k2, k3] = [newMountKey(), newMountKey(), newMountKey()];
    const trusted = ringWith([k1, k2]);
    wrapKeysTo(trusted, [k1, k2], id('master', alice));
    const remote = ringWith([k1, k3]);
    wrapKeysTo(remote, [k1, k3], { ...id('recovery', bob), envelope: filler });
    wrapKeysTo(remote, [k1], id('master', bob)); // conflicting master identity and wrap
    const merged = mergeEscrow(remote, trusted, MOUNT).keyring;
    expect(merged.keys.map((k) => k.id).sort()).toEqual([k1, k2, k3].map((k) => k.id.toString('hex')).sort());
    expect(merged.identities.master!.publicKey).toBe(alice.publicKey.toString('base64'));
    expect(merged.keys.find((k) => k.id === k1.id.toString('hex'))!.wraps.map((w) => w.to).sort()).toEqual(['master', 'recovery']);
    expect(unwrapEvery({ ...merged, keys: merged.keys.filter((k) => k.id === k1.id.toString('hex')) }, 'master', alice.privateKey).keys).toHaveLength(1);
    const removed = { keys: new Set([k3.id.toString('hex')]), wraps: new Set<string>(), identities: new Set(['recovery']) };
    const pruned = mergeEscrow(remote, trusted, MOUNT, removed).keyring;
    expect(pruned.keys.map((k) => k.id).sort()).toEqual([k1, k2].map((k) => k.id.toString('hex')).sort());
    expect(pruned.identities.recovery).toBeUndefined();
    expect(() => serializeKeyring(pruned)).not.toThrow();
  });

  it('unwrapEvery throws DC_ERR_UNWRAP_FAILED for a wrap the key does not open', () => {
    const k = newMountKey();
    const ring = ringWith([k]);
    wrapKeysTo(ring, [k], id('master', alice));
    expect(() => unwrapEvery(ring, 'master', bob.privateKey)).toThrow(expect.objectContaining({ code: 'DC_ERR_UNWRAP_FAILED' }));
  });
});

describe('custody store markers', () => {
  it('revocations per mount, keys epoch', async () => {
    const store = new Keyv();
    expect(await revokedUsers(store, mid('shared:/team'))).toEqual([]);
    await markRevoked(store, mid('shared:/team'), 'carol', true);
    await markRevoked(store, mid('shared:/team'), 'bob', true);
    await markRevoked(store, mid('shared:/team'), 'carol', true);
    expect(await revokedUsers(store, mid('shared:/team'))).toEqual(['bob', 'carol']);
    await markRevoked(store, mid('shared:/team'), 'bob', false);
    expect(await revokedUsers(store, mid('shared:/team'))).toEqual(['carol']);
    expect(await revokedUsers(store, mid('shared:/other'))).toEqual([]);
    expect(await keysEpoch(store)).toBe(0);
    expect(await bumpKeysEpoch(store)).toBe(1);
    expect(await keysEpoch(store)).toBe(1);
  });
});

describe('master key file', () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await makeTempDir('master-key');
  });
  afterEach(async () => tmp.cleanup());

  it('is created once with mode 0600 and reads back to the same public key', async () => {
    const file = join(tmp.path, 'sub', 'master.key');
    const pub = await createMasterKeyFile(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).split('\n')[0]).toBe('davcrypt-master-key/1');
    const read = await readMasterKeyFile(file);
    expect(read.publicKey.equals(pub)).toBe(true);
    expect(read.identity.name).toBe('master');
    await expect(createMasterKeyFile(file)).rejects.toMatchObject({ code: 'DC_ERR_EXISTS' });
    expect((await readMasterKeyFile(file)).publicKey.equals(pub)).toBe(true); // not overwritten
  });

  it('refuses a file others can read, a missing file and garbage', async () => {
    const file = join(tmp.path, 'master.key');
    await createMasterKeyFile(file);
    await chmod(file, 0o640);
    await expect(readMasterKeyFile(file)).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
    await expect(readMasterKeyFile(file, { allowOpenMode: true })).resolves.toBeDefined();
    await expect(readMasterKeyFile(join(tmp.path, 'none.key'))).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
    const bad = join(tmp.path, 'bad.key');
    await writeFile(bad, 'davcrypt-master-key/1\nAAAA\n', { mode: 0o600 });
    await expect(readMasterKeyFile(bad)).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
  });
});

it('a keyring edited by these functions still parses (format rules hold)', () => {
  const k = newMountKey();
  const ring = ringWith([k]);
  wrapKeysTo(ring, [k], id('master', alice));
  addCurrentKey(ring, mid(MOUNT));
  expect(parseKeyring(serializeKeyring(ring)).keys).toHaveLength(2);
});

describe('KeyringService honours revocation markers under its mutex', () => {
  it('does not wrap keys to a revoked member even when the caller still lists her', async () => {
    const { KeyringService } = await import('../../../src/keys/index.js');
    const { createLogger } = await import('../../../src/logging.js');
    const { createLocalBackend } = await import('../../../src/backends/index.js');
    const tmp = await makeTempDir('revoked-members');
    try {
      const store = new Keyv();
      const backend = await createLocalBackend(join(tmp.path, 'team'));
      const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
      await markRevoked(store, mid('shared:/team'), 'bob', true);
      const { sealIdentity } = await import('../../../src/crypto/index.js');
      const tiny = { m: 1024, t: 1, p: 1 };
      const members = [
        { ...id('user:alice', alice), envelope: await sealIdentity(alice.privateKey, 'user:alice', 'a', tiny) },
        { ...id('user:bob', bob), envelope: await sealIdentity(bob.privateKey, 'user:bob', 'b', tiny) },
      ];
      await svc.unlockOrCreate(mid('shared:/team'), backend, { name: 'user:alice', privateKey: alice.privateKey }, members);
      const ring = (await svc.getStored(mid('shared:/team')))!;
      expect(Object.keys(ring.identities)).toEqual(['user:alice']);
      expect(ring.keys[0]!.wraps.map((w) => w.to)).toEqual(['user:alice']);
      await backend.close();
    } finally {
      await tmp.cleanup();
    }
  });
});
