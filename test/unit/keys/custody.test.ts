// Unit tests of the custody pieces in src/keys: keyring edits (wrap, remove,
// rotate, drop, unwrap), the store markers (recovery, revocations, index, epoch)
// and the master key file (create once, 0600, refuses open modes and garbage).
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateIdentityKeyPair, newMountKey, parseKeyring, serializeKeyring, type Keyring } from '../../../src/crypto/index.js';
import {
  addCurrentKey,
  bumpKeysEpoch,
  createMasterKeyFile,
  dropKeysExcept,
  keysEpoch,
  markRevoked,
  readMasterKeyFile,
  recipientsOf,
  removeIdentity,
  revokedUsers,
  unwrapEvery,
  wrapKeysTo,
} from '../../../src/keys/index.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

const alice = generateIdentityKeyPair();
const bob = generateIdentityKeyPair();
const id = (name: string, pair: { publicKey: Buffer }) => ({ name, publicKey: pair.publicKey });

function ringWith(keys = [newMountKey()]): Keyring {
  const ring: Keyring = { format: 'davcrypt-keyring/1', current: keys[0]!.id.toString('hex'), keys: [], identities: {} };
  for (const k of keys) ring.keys.push({ id: k.id.toString('hex'), created: new Date().toISOString(), wraps: [] });
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
    const next = addCurrentKey(ring);
    expect(ring.current).toBe(next.id.toString('hex'));
    expect(ring.keys.at(-1)!.wraps.map((w) => w.to)).toEqual(['recovery']);
    expect(unwrapEvery(ring, 'recovery', bob.privateKey).keys.map((k) => k.key.toString('hex'))).toEqual([first.key, next.key].map((k) => k.toString('hex')));
    expect(dropKeysExcept(ring, new Set())).toEqual([first.id.toString('hex')]);
    expect(ring.keys.map((k) => k.id)).toEqual([ring.current]);
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
    expect(await revokedUsers(store, 'shared:/team')).toEqual([]);
    await markRevoked(store, 'shared:/team', 'carol', true);
    await markRevoked(store, 'shared:/team', 'bob', true);
    await markRevoked(store, 'shared:/team', 'carol', true);
    expect(await revokedUsers(store, 'shared:/team')).toEqual(['bob', 'carol']);
    await markRevoked(store, 'shared:/team', 'bob', false);
    expect(await revokedUsers(store, 'shared:/team')).toEqual(['carol']);
    expect(await revokedUsers(store, 'shared:/other')).toEqual([]);
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
  addCurrentKey(ring);
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
      await markRevoked(store, 'shared:/team', 'bob', true);
      const { sealIdentity } = await import('../../../src/crypto/index.js');
      const tiny = { m: 1024, t: 1, p: 1 };
      const members = [
        { ...id('user:alice', alice), envelope: await sealIdentity(alice.privateKey, 'user:alice', 'a', tiny) },
        { ...id('user:bob', bob), envelope: await sealIdentity(bob.privateKey, 'user:bob', 'b', tiny) },
      ];
      await svc.unlockOrCreate('shared:/team', backend, { name: 'user:alice', privateKey: alice.privateKey }, members);
      const ring = (await svc.getStored('shared:/team'))!;
      expect(Object.keys(ring.identities)).toEqual(['user:alice']);
      expect(ring.keys[0]!.wraps.map((w) => w.to)).toEqual(['user:alice']);
      await backend.close();
    } finally {
      await tmp.cleanup();
    }
  });
});
