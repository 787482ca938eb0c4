import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBackend, type LocalBackend } from '../../../src/backends/index.js';
import { generateIdentityKeyPair, newMountKey, parseKeyring, sealIdentity, serializeKeyring, wrapMountKey } from '../../../src/crypto/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { KEYRING_PATH, KeyringService } from '../../../src/keys/index.js';
import { createLogger } from '../../../src/logging.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

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

  it('creates a key on first use, writes the backend copy, and unlocks it again', async () => {
    const store = new Keyv();
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    const set1 = await svc.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    const text = await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8');
    const onDisk = parseKeyring(text);
    expect(onDisk.current).toBe(set1.current.id.toString('hex'));
    expect(onDisk.keys[0]!.wraps.map((w) => w.to)).toEqual(['user:alice']);
    expect(Object.keys(onDisk.identities)).toEqual(['user:alice']);
    expect(text).not.toContain(set1.current.key.toString('base64'));
    const set2 = await svc.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(set2.current.key.equals(set1.current.key)).toBe(true);
    expect(set2.get(set1.current.id.toString('hex'))?.key.equals(set1.current.key)).toBe(true);
  });

  it('refuses an identity without a wrap (DC_ERR_NO_ACCESS) and grants members from a holder', async () => {
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    await svc.unlockOrCreate('shared:/t', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    await expect(svc.unlockOrCreate('shared:/t', backend, { name: 'user:bob', privateKey: bob.privateKey }, [bobId])).rejects.toMatchObject({
      code: 'DC_ERR_NO_ACCESS',
    });
    const a = await svc.unlockOrCreate('shared:/t', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId, bobId]);
    const b = await svc.unlockOrCreate('shared:/t', backend, { name: 'user:bob', privateKey: bob.privateKey }, [bobId]);
    expect(b.current.key.equals(a.current.key)).toBe(true);
  });

  it('trusts the backend copy only when the store has none, and never adopts backend-only entries', async () => {
    const store = new Keyv();
    const { logger, warnings } = capturingLogger();
    const svc = new KeyringService({ store, logger });
    const mine = await svc.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);

    // The backend plants a key of its own, wrapped to alice, and makes it current.
    const planted = newMountKey();
    const remote = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    remote.keys.push({ id: planted.id.toString('hex'), created: new Date().toISOString(), wraps: [wrapMountKey(planted, alice.publicKey, 'user:alice')] });
    remote.current = planted.id.toString('hex');
    await writeFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), serializeKeyring(remote));

    const fresh = new KeyringService({ store, logger }); // a new process with the same store
    const again = await fresh.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(again.current.id.equals(mine.current.id)).toBe(true);
    expect(again.get(planted.id)).toBeUndefined();
    expect(warnings.some((w) => /never made/.test(w))).toBe(true);
    // ...and the backend copy was rewritten from the store.
    const rewritten = parseKeyring(await readFile(join(tmp.path, 'home', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(rewritten.keys.map((k) => k.id)).toEqual([mine.current.id.toString('hex')]);

    // A new store (lost): trust on first use of the backend copy.
    const lost = new KeyringService({ store: new Keyv(), logger });
    const recovered = await lost.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    expect(recovered.current.key.equals(mine.current.key)).toBe(true);
  });

  it('backendCopy: false keeps the keyring in the store only', async () => {
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }), backendCopy: false });
    await svc.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    await expect(backend.stat(KEYRING_PATH)).rejects.toSatisfy((e: unknown) => isDavcryptError(e, 'DC_ERR_NOT_FOUND'));
    expect(await svc.getStored('home:alice')).toBeDefined();
  });

  it('wraps new keys to the recovery identity when one exists', async () => {
    const store = new Keyv();
    const recovery = generateIdentityKeyPair();
    const envelope = await sealIdentity(recovery.privateKey, 'recovery', 'pw-r', tiny);
    await store.set('identity:recovery', { publicKey: recovery.publicKey.toString('base64'), envelope });
    const svc = new KeyringService({ store, logger: createLogger({ silent: true }) });
    const set = await svc.unlockOrCreate('home:alice', backend, { name: 'user:alice', privateKey: alice.privateKey }, [aliceId]);
    const viaRecovery = await svc.unlockOrCreate('home:alice', backend, { name: 'recovery', privateKey: recovery.privateKey }, []);
    expect(viaRecovery.current.key.equals(set.current.key)).toBe(true);
  });

  it('serializes concurrent first uses of one mount into one key', async () => {
    const svc = new KeyringService({ store: new Keyv(), logger: createLogger({ silent: true }) });
    const self = { name: 'user:alice', privateKey: alice.privateKey };
    const sets = await Promise.all([1, 2, 3, 4].map(() => svc.unlockOrCreate('home:alice', backend, self, [aliceId])));
    for (const s of sets) expect(s.current.id.equals(sets[0]!.current.id)).toBe(true);
  });
});
