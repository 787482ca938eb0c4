import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig, type Config } from '../../../src/config/index.js';
import { highestKey, parseKeyring } from '../../../src/crypto/index.js';
import { isDavcryptError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logging.js';
import { createUserServices, ensureInitialAdmin, type UserServices } from '../../../src/users/index.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { formatMountId, requireMountId } from '../../../src/keys/mount-id.js';
import { mountStateKey } from '../../../src/users/mount-state.js';

/** A mount id from its stored form (the form the keyring tags and the store use). */
const mid = (text: string) => requireMountId(text, 'test');

const silent = createLogger({ silent: true });

function configFor(root: string, extra: Record<string, unknown> = {}, encrypt = true): Config {
  return resolveConfig(
    {
      dataDir: join(root, 'data'),
      store: 'memory://',
      keys: { argon2: { m: 1024, t: 1, p: 1 } },
      mounts: [
        { path: '/', encrypt, backend: { type: 'local', root: join(root, 'storage', '{user}') } },
        { path: '/team', encrypt: false, users: ['alice'], backend: { type: 'local', root: join(root, 'team') } },
      ],
      ...extra,
    },
    { cwd: root, env: {} },
  );
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isDavcryptError(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

describe('accounts and authenticator', () => {
  let tmp: TempDir;
  let store: Keyv;
  let svc: UserServices;

  beforeEach(async () => {
    tmp = await makeTempDir('accounts');
    store = new Keyv();
    svc = createUserServices(configFor(tmp.path), store, silent);
  });
  afterEach(async () => {
    await svc.close();
    await tmp.cleanup();
  });

  it('add / list / remove; names are validated; duplicates refused', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    await svc.accounts.add('bob', 'pw-bob');
    expect((await svc.accounts.list()).map((r) => r.name)).toEqual(['alice', 'bob']);
    const rec = await svc.records.get('alice');
    expect(rec?.envelope).toMatchObject({ kdf: 'argon2id', m: 1024, t: 1, p: 1 });
    expect(JSON.stringify(rec)).not.toContain('pw-alice');
    expect(await codeOf(svc.accounts.add('alice', 'x'))).toBe('DC_ERR_EXISTS');
    expect(await codeOf(svc.accounts.add('../evil', 'x'))).toBe('DC_ERR_USAGE');
    expect(await codeOf(svc.accounts.add('carol', ''))).toBe('DC_ERR_USAGE');
    await svc.accounts.remove('bob');
    expect((await svc.accounts.list()).map((r) => r.name)).toEqual(['alice']);
    expect(await codeOf(svc.accounts.remove('bob'))).toBe('DC_ERR_NOT_FOUND');
  });

  it('a second login with the same password runs no argon2 (cache), a wrong one is refused', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    const auth = svc.authenticator;
    const t0 = performance.now();
    const u1 = await auth.authenticate('alice', 'pw-alice', '127.0.0.1');
    const fresh = performance.now() - t0;
    expect(auth.stats().argon2).toBe(1);
    const t1 = performance.now();
    for (let i = 0; i < 100; i++) expect(await auth.authenticate('alice', 'pw-alice', '127.0.0.1')).toBe(u1);
    const cachedEach = (performance.now() - t1) / 100;
    expect(auth.stats()).toMatchObject({ argon2: 1, cached: 100, cacheSize: 1 });
    expect(cachedEach).toBeLessThan(fresh);
    expect(await codeOf(auth.authenticate('alice', 'wrong', '127.0.0.1'))).toBe('DC_ERR_UNAUTHORIZED');
    expect(await codeOf(auth.authenticate('nobody', 'pw-alice', '127.0.0.1'))).toBe('DC_ERR_UNAUTHORIZED');
    expect(await codeOf(auth.authenticate('../x', 'pw', '127.0.0.1'))).toBe('DC_ERR_UNAUTHORIZED');
  });

  it('parallel fresh logins share one argon2 computation', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => svc.authenticator.authenticate('alice', 'pw-alice', '::1')));
    expect(new Set(users).size).toBe(1);
    expect(svc.authenticator.stats().argon2).toBe(1);
  });

  it('throttles failures per (user, address) before any argon2; a verified login is never throttled', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    const auth = svc.authenticator;
    for (let i = 0; i < 4; i++) expect(await codeOf(auth.authenticate('alice', `bad${i}`, '10.1.1.1'))).toBe('DC_ERR_UNAUTHORIZED');
    await auth.authenticate('alice', 'pw-alice', '10.1.1.1'); // resets
    for (let i = 0; i < 5; i++) expect(await codeOf(auth.authenticate('alice', `bad${i}`, '10.1.1.1'))).toBe('DC_ERR_UNAUTHORIZED');
    const before = auth.stats().argon2;
    expect(await codeOf(auth.authenticate('alice', 'bad-again', '10.1.1.1'))).toBe('DC_ERR_TOO_MANY_REQUESTS');
    expect(auth.stats().argon2).toBe(before); // refused before any argon2
    expect((await auth.authenticate('alice', 'pw-alice', '10.1.1.1')).name).toBe('alice'); // cached: not locked out
    expect(await codeOf(auth.authenticate('alice', 'bad-elsewhere', '10.2.2.2'))).toBe('DC_ERR_UNAUTHORIZED'); // other address
  });

  it('passwd rewrites the envelope in the record and the home keyring; a cached login notices', async () => {
    const cfg = configFor(tmp.path, { auth: { recheckSeconds: 0 } });
    await svc.close();
    svc = createUserServices(cfg, store, silent);
    await svc.accounts.add('alice', 'old-pw');
    // Create the home keyring through a first key use (keyring service directly: no EncryptingBackend needed).
    const home = svc.backends.homeMount('alice')!;
    const backend = await svc.backends.rawBackend(home, 'alice');
    const rec = (await svc.records.get('alice'))!;
    const { openIdentity } = await import('../../../src/crypto/index.js');
    const priv = await openIdentity(rec.envelope, 'user:alice', 'old-pw');
    const ident = { name: 'user:alice', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope };
    const keys = await svc.keyrings.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: priv }, [ident]);

    await svc.authenticator.authenticate('alice', 'old-pw', '::1');
    expect(await codeOf(svc.accounts.passwd('alice', 'wrong', 'new-pw'))).toBe('DC_ERR_WRONG_PASSWORD');
    expect(await svc.accounts.passwd('alice', 'old-pw', 'new-pw')).toEqual([mid('home:alice')]);
    expect(await codeOf(svc.authenticator.authenticate('alice', 'old-pw', '::1'))).toBe('DC_ERR_UNAUTHORIZED');
    await svc.authenticator.authenticate('alice', 'new-pw', '::1');
    const onDisk = parseKeyring(await readFile(join(tmp.path, 'storage', 'alice', '.davcrypt', 'keyring.json'), 'utf8'));
    const privNew = await openIdentity(onDisk.identities['user:alice']!.envelope!, 'user:alice', 'new-pw');
    expect(privNew.equals(priv)).toBe(true);
    expect(highestKey(onDisk.keys)!.id).toBe(keys.current.id.toString('hex')); // same key, only the envelope changed
  });

  it('lost store: a user in the backend home keyring is NOT adopted at login; user add with her password and restore bring her back', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    const rec = (await svc.records.get('alice'))!;
    const home = svc.backends.homeMount('alice')!;
    const backend = await svc.backends.rawBackend(home, 'alice');
    const { openIdentity } = await import('../../../src/crypto/index.js');
    const priv = await openIdentity(rec.envelope, 'user:alice', 'pw-alice');
    const ident = { name: 'user:alice', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope };
    const keys = await svc.keyrings.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: priv }, [ident]);
    await svc.close();

    const store2 = new Keyv();
    svc = createUserServices(configFor(tmp.path), store2, silent);
    expect(await codeOf(svc.authenticator.authenticate('alice', 'wrong', '::1'))).toBe('DC_ERR_UNAUTHORIZED');
    // Serving never creates an account, not even with the right password.
    expect(await codeOf(svc.authenticator.authenticate('alice', 'pw-alice', '::1'))).toBe('DC_ERR_UNAUTHORIZED');
    expect(await svc.records.get('alice')).toBeUndefined();
    const { planRestore, applyRestore } = await import('../../../src/users/index.js');
    const plan = await planRestore(configFor(tmp.path), svc);
    expect(plan.entries.map((e) => [e.name, e.status, e.sources.map(formatMountId)])).toEqual([['alice', 'adopt', ['home:alice']]]);
    expect(await applyRestore(svc, plan)).toEqual(['alice']);
    await svc.authenticator.authenticate('alice', 'pw-alice', '::1');
    expect((await svc.records.get('alice'))?.publicKey).toBe(rec.publicKey);
    const again = await svc.keyrings.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: priv }, [ident]);
    expect(again.current.key.equals(keys.current.key)).toBe(true);

    // user add of an identity already in the keyring: the right password adopts, a wrong one changes nothing.
    const store3 = new Keyv();
    await svc.close();
    svc = createUserServices(configFor(tmp.path), store3, silent);
    expect(await codeOf(svc.accounts.add('alice', 'not-her-password'))).toBe('DC_ERR_WRONG_PASSWORD');
    expect(await svc.records.names()).toEqual([]);
    expect(await svc.accounts.add('alice', 'pw-alice')).toEqual({ adopted: true });
    expect((await svc.records.get('alice'))?.publicKey).toBe(rec.publicKey);
  });

  it('failed logins of unknown names create no folders on the backend', async () => {
    for (const name of ['mallory', 'x.y', 'z@q']) expect(await codeOf(svc.authenticator.authenticate(name, 'pw', `10.9.0.${name.length}`))).toBe('DC_ERR_UNAUTHORIZED');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(tmp.path, 'storage')).catch(() => [])).toEqual([]);
  });

  it('a removed user is not adopted back at login nor restored', async () => {
    await svc.accounts.add('alice', 'pw-alice');
    const rec = (await svc.records.get('alice'))!;
    const backend = await svc.backends.rawBackend(svc.backends.homeMount('alice')!, 'alice');
    const { openIdentity } = await import('../../../src/crypto/index.js');
    const priv = await openIdentity(rec.envelope, 'user:alice', 'pw-alice');
    await svc.keyrings.unlockOrCreate(mid('home:alice'), backend, { name: 'user:alice', privateKey: priv }, [
      { name: 'user:alice', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope },
    ]);
    await svc.accounts.remove('alice');
    expect(await codeOf(svc.authenticator.authenticate('alice', 'pw-alice', '::1'))).toBe('DC_ERR_UNAUTHORIZED');
    const { planRestore, applyRestore } = await import('../../../src/users/index.js');
    const plan = await planRestore(configFor(tmp.path), svc);
    expect(plan.entries.map((e) => [e.name, e.status])).toEqual([['alice', 'removed']]);
    expect(await applyRestore(svc, plan)).toEqual([]);
    expect(await svc.records.get('alice')).toBeUndefined();
  });

  it('mountsFor resolves plain mounts per session, longest prefix first', async () => {
    const cfg = configFor(tmp.path, {}, false);
    await svc.close();
    svc = createUserServices(cfg, store, silent);
    await svc.accounts.add('alice', 'pw-alice');
    await svc.accounts.add('bob', 'pw-bob');
    const alice = await svc.authenticator.authenticate('alice', 'pw-alice', '::1');
    const mounts = await svc.authenticator.mountsFor(alice);
    expect(mounts.map((m) => [m.urlPrefix, mountStateKey(m.id), m.encrypted])).toEqual([
      ['/team', 'shared:/team', false],
      ['', 'home:alice', false],
    ]);
    expect(await svc.authenticator.mountsFor(alice)).toBe(mounts);
    const bob = await svc.authenticator.authenticate('bob', 'pw-bob', '::1');
    expect((await svc.authenticator.mountsFor(bob)).map((m) => mountStateKey(m.id))).toEqual(['home:bob']);
    expect(await codeOf(svc.authenticator.mountsFor({ name: 'alice' }))).toBe('DC_ERR_UNAUTHORIZED');
    svc.authenticator.logout('alice');
    expect(await codeOf(svc.authenticator.mountsFor(alice))).toBe('DC_ERR_UNAUTHORIZED');
  });

  it('initial admin: created once with a 0600 password file; a fresh one even when admin exists on the backend', async () => {
    const lines: string[] = [];
    const dataDir = join(tmp.path, 'data');
    const outcome = await ensureInitialAdmin({ accounts: svc.accounts, store, dataDir, logger: silent, env: {}, print: (l) => lines.push(l) });
    expect(outcome).toBe('created');
    const file = join(dataDir, 'initial-admin-password');
    const password = (await readFile(file, 'utf8')).trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await import('node:fs')).statSync(file).mode & 0o777).toBe(0o600);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(password);
    await svc.authenticator.authenticate('admin', password, '::1');
    expect(await ensureInitialAdmin({ accounts: svc.accounts, store, dataDir, logger: silent, env: {}, print: (l) => lines.push(l) })).toBe('not-needed');
    expect(lines).toHaveLength(1);

    // Admin's identity in the backend keyring + a new store: a fresh admin all the same (the old one comes back only through restore).
    const rec = (await svc.records.get('admin'))!;
    const backend = await svc.backends.rawBackend(svc.backends.homeMount('admin')!, 'admin');
    const { openIdentity } = await import('../../../src/crypto/index.js');
    const priv = await openIdentity(rec.envelope, 'user:admin', password);
    await svc.keyrings.unlockOrCreate(mid('home:admin'), backend, { name: 'user:admin', privateKey: priv }, [
      { name: 'user:admin', publicKey: Buffer.from(rec.publicKey, 'base64'), envelope: rec.envelope },
    ]);
    await svc.close();
    await rm(dataDir, { recursive: true, force: true });
    const store2 = new Keyv();
    svc = createUserServices(configFor(tmp.path), store2, silent);
    expect(await ensureInitialAdmin({ accounts: svc.accounts, store: store2, dataDir, logger: silent, env: {}, print: (l) => lines.push(l) })).toBe('created');
    expect(lines).toHaveLength(2);
    const fresh = (await readFile(file, 'utf8')).trim();
    expect(fresh).not.toBe(password);
    expect((await svc.records.get('admin'))?.publicKey).not.toBe(rec.publicKey);
    expect(await codeOf(svc.authenticator.authenticate('admin', password, '::1'))).toBe('DC_ERR_UNAUTHORIZED');
    await svc.authenticator.authenticate('admin', fresh, '::1');
  });

  it('DAVCRYPT_ADMIN_PASSWORD sets the initial admin password (nothing printed or written)', async () => {
    const lines: string[] = [];
    const dataDir = join(tmp.path, 'data');
    await ensureInitialAdmin({ accounts: svc.accounts, store, dataDir, logger: silent, env: { DAVCRYPT_ADMIN_PASSWORD: 'chosen' }, print: (l) => lines.push(l) });
    expect(lines).toEqual([]);
    await svc.authenticator.authenticate('admin', 'chosen', '::1');
    await expect(readFile(join(dataDir, 'initial-admin-password'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
