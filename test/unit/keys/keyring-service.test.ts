import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBackend, type LocalBackend } from '../../../src/backends/index.js';
import { deriveTagKey, generateIdentityKeyPair, highestKey, newMountKey, openKeyringFor, parseKeyring, sealIdentity, serializeKeyring, wrapMountKey } from '../../../src/crypto/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { KEYRING_PATH, KeyringService } from '../../../src/keys/index.js';
import { createLogger } from '../../../src/logging.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { requireMountId } from '../../../src/keys/mount-id.js';

/** A mount id from its stored form (the form the keyring tags and the store use). */
const mid = (text: string) => requireMountId(text, 'test');

function capturingLogger() {
  const warnings: string[] = [];
  const logger = createLogger({ silent: true });
  const warn = logger.warn.bind(logger);
  logger.warn = ((msg: string, ...rest: unknown[]) => {
    warnings.push(msg);
    return warn(msg, ...(rest as []));
  }) as typeof logger.warn;
  return { logger, warnings };
}

describe('KeyringService', () => {
  let tmp: TempDir;
  let backend: LocalBackend;
  const alice = generateIdentityKeyPair();
  const bob = generateIdentityKeyPair();
  const tiny = { m: 1024, t: 1, p: 1 };
  const aliceId = { name: 'user:alice', publicKey: alice.publicKey, envelope: undefined as unknown as Awaited<ReturnType<typeof sealIdentity>> };
  const bobId = { name: 'user:bob', publicKey: bob.publicKey, envelope: aliceId.envelope };

  beforeAll(async () => {
    aliceId.envelope = await sealIdentity(alice.privateKey, 'user:alice', 'pw-a', tiny);
    bobId.envelope = await sealIdentity(bob.privateKey, 'user:bob', 'pw-b', tiny);
  });

  beforeEach(async () => {
    tmp = await makeTempDir('keyring');
    backend = await createLocalBackend(join(tmp.path, 'home'));
  });
  afterEach(async () => tmp.cleanup());

  it('creates a key on first use, writes the backend copy (format 2, tagged), and unlocks it again', async () => {
    const store = new Keyv();
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    const set1 = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    const text = await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8');
    const onDisk = parseKeyring(text);
    expect(JSON.parse(text).format).toBe('davcrypt-keyring/2');
    expect(highestKey(onDisk.keys)!.id).toBe(set1.current.id.toString('hex'));
    expect(onDisk.keys[0]!.mount).toBe('home:alice');
    expect(openKeyringFor(onDisk, 'user:alice', alice.privateKey, { mount: 'home:alice' }).authenticated.size).toBe(1);
    expect(onDisk.keys[0]!.wraps.map((w) => w.to)).toEqual(['user:alice']);
    expect(Object.keys(onDisk.identities)).toEqual(['user:alice']);
    expect(text).not.toContain(set1.current.key.toString('base64'));
    const set2 = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(set2.current.key.equals(set1.current.key)).toBe(true);
    expect(set2.get(set1.current.id.toString('hex'))?.key.equals(set1.current.key)).toBe(true);
  });

  it('refuses an identity without a wrap (DC_ERR_NO_ACCESS) and grants members from a holder', async () => {
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    await svc.unlockOrCreate(mid('shared:/t'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    await expect(svc.unlockOrCreate(mid('shared:/t'), backend, { name: 'user:bob', privateKey: bob.privateKey }, [bobId])).rejects.toMatchObject({
      code: 'DC_ERR_NO_ACCESS',
    });
    const a = await svc.unlockOrCreate(mid('shared:/t'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId, bobId]);
    const b = await svc.unlockOrCreate(mid('shared:/t'), backend, { name: 'user:bob', privateKey: bob.privateKey }, [bobId]);
    expect(b.current.key.equals(a.current.key)).toBe(true);
  });

  it('never uses a key the backend planted: with the store it is escrow, without it nothing without a valid tag is taken over', async () => {
    const store = new Keyv();
    const { logger, warnings } = capturingLogger();
    const svc = new KeyringService({ store, logger });
    const self = { name: 'user:alice', privateKey: alice.privateKey, envelope: aliceId.envelope };
    const mine = await svc.unlockOrCreate(mid('home:alice'), backend, self, [aliceId]);

    // The backend plants a key of its own, wrapped to alice's public key, with the highest seq and a made-up tag.
    const planted = newMountKey();
    const remote = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    const wrap = wrapMountKey(planted, alice.publicKey, 'user:alice');
    wrap.tag = Buffer.alloc(32, 1).toString('base64');
    remote.keys.push({ id: planted.id.toString('hex'), mount: 'home:alice', seq: 1000, created: new Date().toISOString(), wraps: [wrap] });
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), serializeKeyring(remote));

    const fresh = new KeyringService({ store, logger }); // a new process with the same store
    const again = await fresh.unlockOrCreate(mid('home:alice'), backend, self, [aliceId]);
    expect(again.current.id.equals(mine.current.id)).toBe(true);
    expect(again.get(planted.id)).toBeUndefined();
    expect(warnings.some((w) => /cannot authenticate/.test(w))).toBe(true);
    // The backend copy keeps it (escrow: never dropped, never used); the store never had it.
    const after = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(after.keys.map((k) => k.id).sort()).toEqual([mine.current.id.toString('hex'), planted.id.toString('hex')].sort());
    expect((await fresh.getStored(mid('home:alice')))!.keys.map((k) => k.id)).toEqual([mine.current.id.toString('hex')]);

    // A new store (lost): alice's own tag vouches for her key; the planted one is still not used.
    const lost = new KeyringService({ store: new Keyv(), logger });
    const recovered = await lost.unlockOrCreate(mid('home:alice'), backend, self, [aliceId]);
    expect(recovered.current.key.equals(mine.current.key)).toBe(true);
    expect(recovered.get(planted.id)).toBeUndefined();

    // Another identity's tags do not count for alice: bob's store takes nothing over and makes its own key.
    const other = new KeyringService({ store: new Keyv(), logger });
    const bobSet = await other.unlockOrCreate(mid('home:alice'), backend, { name: 'user:bob', privateKey: bob.privateKey, envelope: bobId.envelope }, [bobId]);
    expect(bobSet.current.id.equals(mine.current.id)).toBe(false);
    expect(bobSet.get(planted.id)).toBeUndefined();
  });

  it('a keyring the gateway did not write is not trusted on first use: a fresh key, the old file kept as escrow', async () => {
    // A keyring whose current key is wrapped to alice's public key (the attacker read it elsewhere), no tags.
    const planted = newMountKey();
    const ring = { format: 'davcrypt-keyring/2' as const, keys: [{ id: planted.id.toString('hex'), mount: 'home:alice', seq: 1, created: new Date().toISOString(), wraps: [wrapMountKey(planted, alice.publicKey, 'user:alice')] }], identities: { 'user:alice': { publicKey: alice.publicKey.toString('base64'), envelope: aliceId.envelope } } };
    await backend.mkdir('/.davcrypt');
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), serializeKeyring(ring));
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    const set = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey, envelope: aliceId.envelope }, [aliceId]);
    expect(set.current.id.equals(planted.id)).toBe(false);
    expect(set.get(planted.id)).toBeUndefined();
    const after = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(after.keys).toHaveLength(2);
    expect(after.keys.find((k) => k.id === planted.id.toString('hex'))!.wraps[0]!.tag).toBeUndefined();
  });

  it('a format 1 store copy is trusted and migrated to format 2 on first use (tags written); the backend copy follows', async () => {
    const store = new Keyv();
    const key = newMountKey();
    const v1 = {
      format: 'davcrypt-keyring/1',
      current: key.id.toString('hex'),
      keys: [{ id: key.id.toString('hex'), created: new Date().toISOString(), wraps: [wrapMountKey(key, alice.publicKey, 'user:alice')] }],
      identities: { 'user:alice': { publicKey: alice.publicKey.toString('base64'), envelope: aliceId.envelope } },
    };
    await store.set('keyring:home:alice', JSON.stringify(v1));
    await backend.mkdir('/.davcrypt');
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), JSON.stringify(v1));
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    const set = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(set.current.key.equals(key.key)).toBe(true);
    const stored = JSON.parse((await store.get<string>('keyring:home:alice'))!);
    expect(stored.format).toBe('davcrypt-keyring/2');
    const onDisk = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(onDisk.readFrom).toBeUndefined();
    expect(openKeyringFor(onDisk, 'user:alice', alice.privateKey, { mount: 'home:alice' }).authenticated.has(key.id.toString('hex'))).toBe(true);
  });

  it('an out-of-bounds backend copy: DC_ERR_KEYRING_INVALID at once without a store copy; with one it is set aside and rewritten', async () => {
    await backend.mkdir('/.davcrypt');
    const k = newMountKey();
    const huge = { format: 'davcrypt-keyring/2', keys: [] as unknown[], identities: {} };
    for (let i = 0; i < 40_000; i++) huge.keys.push({ id: ('a' + i.toString(16)).padStart(32, '0'), mount: 'home:alice', seq: i, created: '2026-01-01T00:00:00Z', wraps: [] });
    const hugeText = JSON.stringify(huge);
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), hugeText);
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    const self = { name: 'user:alice', privateKey: alice.privateKey };
    const t0 = Date.now();
    await expect(svc.unlockOrCreate(mid('home:alice'), backend, self, [aliceId])).rejects.toMatchObject({ code: 'DC_ERR_KEYRING_INVALID' });
    expect(Date.now() - t0).toBeLessThan(2000);
    // An envelope asking for 1 GiB of argon2 memory (configured m = 1024): refused before any argon2 work.
    const greedy = { ...aliceId.envelope, m: 1_048_576, t: 64 };
    const ring = { format: 'davcrypt-keyring/2', keys: [{ id: k.id.toString('hex'), mount: 'home:alice', seq: 1, created: '2026-01-01T00:00:00Z', wraps: [] }], identities: { 'user:alice': { publicKey: alice.publicKey.toString('base64'), envelope: greedy } } };
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), JSON.stringify(ring));
    const bounded = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }), argon2: tiny });
    await expect(bounded.readBackendCopy(backend)).rejects.toMatchObject({ code: 'DC_ERR_KEYRING_INVALID' });
    // With a store copy the gateway serves from it, moves the bad file aside and writes its own.
    const store = new Keyv();
    const withStore = new KeyringService({ store, logger: createLogger({ silent: true }) });
    await rm(join(tmp.path, 'home', '.davcrypt', 'keyring.json'));
    const set = await withStore.unlockOrCreate(mid('home:alice'), backend, self, [aliceId]);
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), hugeText);
    const again = await new KeyringService({ store, logger: createLogger({ silent: true }) }).unlockOrCreate(mid('home:alice'), backend, self, [aliceId]);
    expect(again.current.key.equals(set.current.key)).toBe(true);
    expect(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.rejected.json'), 'utf8')).toBe(hugeText);
    expect(parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8')).keys).toHaveLength(1);
  });

  it('backendCopy: false keeps the keyring in the store only, and never reads one the backend holds', async () => {
    const planted = newMountKey();
    await backend.mkdir('/.davcrypt');
    const wrap = wrapMountKey(planted, alice.publicKey, 'user:alice');
    const ring = { format: 'davcrypt-keyring/2' as const, keys: [{ id: planted.id.toString('hex'), mount: 'home:alice', seq: 1, created: new Date().toISOString(), wraps: [wrap] }], identities: { 'user:alice': { publicKey: alice.publicKey.toString('base64'), envelope: aliceId.envelope } } };
    const text = serializeKeyring(ring);
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), text);
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }), backendCopy: false });
    const set = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(set.current.id.equals(planted.id)).toBe(false);
    expect(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8')).toBe(text);
    expect(await svc.getStored(mid('home:alice'))).toBeDefined();
    const empty = await createLocalBackend(join(tmp.path, 'other'));
    await svc.unlockOrCreate(mid('home:bob'), empty, { name: 'user:bob', privateKey: bob.privateKey }, [bobId]);
    await expect(empty.stat(KEYRING_PATH)).rejects.toSatisfy((e: unknown) => isDavcryptError(e, 'DC_ERR_NOT_FOUND'));
  });

  it('wraps new keys to the recovery identity when one exists, tagged with the tag key the store holds', async () => {
    const store = new Keyv();
    const recovery = generateIdentityKeyPair();
    const envelope = await sealIdentity(recovery.privateKey, 'recovery', 'pw-r', tiny);
    await store.set('identity:recovery', { publicKey: recovery.publicKey.toString('base64'), envelope, tagKey: deriveTagKey(recovery.privateKey).toString('base64') });
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    const set = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    const viaRecovery = await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'recovery', privateKey: recovery.privateKey }, []);
    expect(viaRecovery.current.key.equals(set.current.key)).toBe(true);
    const onDisk = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(openKeyringFor(onDisk, 'recovery', recovery.privateKey).authenticated.size).toBe(1);
  });

  it('never wraps to a recovery identity the store does not hold (one a keyring names is dropped from the trusted copy)', async () => {
    const store = new Keyv();
    const mallory = generateIdentityKeyPair();
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    await svc.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    const ring = (await svc.getStored(mid('home:alice')))!;
    ring.identities.recovery = { publicKey: mallory.publicKey.toString('base64'), envelope: aliceId.envelope };
    await store.set('keyring:home:alice', serializeKeyring(ring));
    await svc.update(mid('home:alice'), backend, (k) => {
      expect(k.identities.recovery).toBeUndefined();
      return { save: true, result: undefined };
    });
    expect((await svc.getStored(mid('home:alice')))!.identities.recovery).toBeUndefined();
  });

  it('serializes concurrent first uses of one mount into one key', async () => {
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    const self = { name: 'user:alice', privateKey: alice.privateKey };
    const sets = await Promise.all([1, 2, 3, 4].map(() => svc.unlockOrCreate(mid('home:alice'), backend, self, [aliceId])));
    for (const s of sets) expect(s.current.id.equals(sets[0]!.current.id)).toBe(true);
  });
});
