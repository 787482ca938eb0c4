// Issue 11, keys half: the attacks of a hostile storage provider (test/helpers/keyring-attacker.ts:
// it writes raw bytes on the backend knowing only docs/FORMAT.md and the public keys it reads in
// keyrings) against a running gateway on local storage, and the offline tools. Each attack
// succeeded before keyring format 2 (trust on first use, untagged keys); each must fail now. Also:
// a lost store still recovers every file with `recover --recovery` / the master key file, with
// every key authenticated, and a format 1 keyring is migrated on first trusted use.
import { cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runKey } from '../../src/cli/key.js';
import { runRecover } from '../../src/cli/recover.js';
import { runRecovery } from '../../src/cli/recovery.js';
import { runRestore } from '../../src/cli/restore.js';
import { runVerify } from '../../src/cli/verify.js';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { inProcessCliIO, listFilesBelow } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { KeyringAttacker, localAccess } from '../helpers/keyring-attacker.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const cliIO = inProcessCliIO;
const sha = KeyringAttacker.sha;

const HOMES_AND_TEAM = [
  { path: '/', backend: { type: 'local', root: './storage/{user}' } },
  { path: '/team', users: ['*'], backend: { type: 'local', root: './team' } },
];

const put = async (gw: TestGateway, path: string, body: Buffer | string, user: string) => (await gatewayRequest(gw, 'PUT', path, { auth: gw.authHeader(user), body })).status;
const get = (gw: TestGateway, path: string, user: string) => gatewayRequest(gw, 'GET', path, { auth: gw.authHeader(user) });

describe('a hostile backend cannot make the gateway encrypt with its key', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it("new user's first login: a planted home keyring wrapped to her public key (format 1 or 2) is not used", async () => {
    gw = await startTestGateway({ users: { bob: 'bob-pw', alice: 'alice-pw', carol: 'carol-pw' }, mounts: HOMES_AND_TEAM, config: { auth: { recheckSeconds: 0 } } });
    // bob's first use of /team wraps its key to every member: their public keys are now on the backend.
    expect(await put(gw, '/team/hello.txt', 'hi', 'bob')).toBeLessThan(300);
    const evil = new KeyringAttacker(localAccess(gw.root));
    const pubs = await evil.publicKeysIn('/team');
    for (const [user, format] of [['alice', 1], ['carol', 2]] as const) {
      const planted = await evil.plantKeyring(`/storage/${user}`, { [`user:${user}`]: pubs[`user:${user}`]! }, { format, mount: `home:${user}` });
      expect(await put(gw, '/secret.txt', `${user}'s secret`, user)).toBe(201);
      const raw = await evil.storage.read(`/storage/${user}/secret.txt`);
      expect(KeyringAttacker.keyIdOf(raw!)).not.toBe(planted.id.toString('hex'));
      expect(evil.decrypt(raw, planted)).toBeUndefined();
      expect((await get(gw, '/secret.txt', user)).body.toString()).toBe(`${user}'s secret`);
      // The planted key stays on the backend as escrow (never dropped, never used).
      const ring = await evil.readKeyring(`/storage/${user}`);
      expect(ring!.format).toBe('davcrypt-keyring/2');
      expect(ring!.keys.map((k: { id: string }) => k.id)).toContain(planted.id.toString('hex'));
    }
  });

  it('a mount added to the config: a planted keyring wrapped to the members is not used', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, mounts: [HOMES_AND_TEAM[0]], config: { auth: { recheckSeconds: 0 } } });
    for (const u of ['alice', 'bob']) expect(await put(gw, '/mine.txt', u, u)).toBe(201);
    const evil = new KeyringAttacker(localAccess(gw.root));
    const victims = { 'user:alice': (await evil.publicKeysIn('/storage/alice'))['user:alice']!, 'user:bob': (await evil.publicKeysIn('/storage/bob'))['user:bob']! };
    const planted = await evil.plantKeyring('/team', victims);
    await gw.restart({ mounts: HOMES_AND_TEAM });
    expect(await put(gw, '/team/plan.txt', 'the plan', 'alice')).toBe(201);
    const raw = await evil.storage.read('/team/plan.txt');
    expect(evil.decrypt(raw, planted)).toBeUndefined();
    expect((await get(gw, '/team/plan.txt', 'bob')).body.toString()).toBe('the plan');
  });

  it('master-key mode: a planted home keyring wrapped to the master public key is not used', async () => {
    const tmp = await makeTempDir('attack-master');
    try {
      const keyFile = join(tmp.path, 'master.key');
      await createMasterKeyFile(keyFile);
      gw = await startTestGateway({ users: { alice: 'alice-pw', carol: 'carol-pw', dave: 'dave-pw' }, config: { keys: { mode: 'master', masterKeyFile: keyFile }, auth: { recheckSeconds: 0 } } });
      expect(await put(gw, '/a.txt', 'alice', 'alice')).toBe(201);
      const evil = new KeyringAttacker(localAccess(gw.storageRoot));
      const master = (await evil.publicKeysIn('/alice')).master!;
      for (const [user, format] of [['carol', 1], ['dave', 2]] as const) {
        const planted = await evil.plantKeyring(`/${user}`, { master }, { format, mount: `home:${user}` });
        expect(await put(gw, '/secret.txt', 'master mode secret', user)).toBe(201);
        expect(evil.decrypt(await evil.storage.read(`/${user}/secret.txt`), planted)).toBeUndefined();
        expect((await get(gw, '/secret.txt', user)).body.toString()).toBe('master mode secret');
      }
    } finally {
      await tmp.cleanup();
    }
  });

  it('keys.backendKeyring: false: a keyring on the backend is never read', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { keys: { backendKeyring: false } } });
    // The threat model gives the attacker every public key (here from the store, as if seen elsewhere).
    const alicePub = Buffer.from((await gw.gateway.users.records.get('alice'))!.publicKey, 'base64');
    const evil = new KeyringAttacker(localAccess(gw.storageRoot));
    const planted = await evil.plantKeyring('/alice', { 'user:alice': alicePub });
    expect(await put(gw, '/secret.txt', 'not for the provider', 'alice')).toBe(201);
    expect(evil.decrypt(await evil.storage.read('/alice/secret.txt'), planted)).toBeUndefined();
  });

  it('a planted recovery identity is neither adopted nor wrapped to (first login, then key rotate)', async () => {
    gw = await startTestGateway({ users: { bob: 'bob-pw', carol: 'carol-pw' }, mounts: HOMES_AND_TEAM, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/team/x.txt', 'x', 'bob')).toBeLessThan(300);
    const evil = new KeyringAttacker(localAccess(gw.root));
    const carolPub = (await evil.publicKeysIn('/team'))['user:carol']!;
    const fakeRecovery = evil.newIdentity();
    await evil.plantKeyring('/storage/carol', { 'user:carol': carolPub, recovery: fakeRecovery.publicKey });
    expect(await put(gw, '/before.txt', 'before', 'carol')).toBe(201);
    const config = await gw.configFile();
    expect(await runKey(['rotate', '/', '--user', 'carol', '--config', config], cliIO('').io, config)).toBe(0);
    expect(await put(gw, '/after.txt', 'after rotate', 'carol')).toBe(201);
    const ring = (await evil.readKeyring('/storage/carol'))!;
    for (const path of ['/storage/carol/before.txt', '/storage/carol/after.txt']) {
      const raw = (await evil.storage.read(path))!;
      const entry = ring.keys.find((k: { id: string }) => k.id === KeyringAttacker.keyIdOf(raw));
      expect(entry.wraps.some((w: { to: string }) => w.to === 'recovery'), path).toBe(false);
    }
    // Nothing took the planted identity into the store: no command can use it.
    expect(await gw.gateway.store.get('identity:recovery')).toBeUndefined();
    await expect(runRecovery(['reset-password', 'carol', '--config', config], cliIO('any\nnew\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_NO_ACCESS' });
  });

  it('keyrings beyond the bounds are refused at once: 40 000 keys (first login), argon2 m = 1 GiB (unknown user, user add)', async () => {
    gw = await startTestGateway({ users: { bob: 'bob-pw', dave: 'dave-pw' }, mounts: HOMES_AND_TEAM });
    expect(await put(gw, '/team/x.txt', 'x', 'bob')).toBeLessThan(300);
    const evil = new KeyringAttacker(localAccess(gw.root));
    const davePub = (await evil.publicKeysIn('/team'))['user:dave']!;
    await evil.plantHugeKeyring('/storage/dave', { 'user:dave': davePub }, 40_000);
    let t0 = Date.now();
    const res = await gatewayRequest(gw, 'PUT', '/x.txt', { auth: gw.authHeader('dave'), body: 'x' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(res.status).toBe(500);
    expect(res.body.toString()).toMatch(/DC_ERR_KEYRING_INVALID/);

    await evil.plantIdentity('/storage/mallory', 'user:mallory', 'attacker-pw', { m: 1_048_576, t: 64, p: 1 });
    t0 = Date.now();
    const login = await gatewayRequest(gw, 'PROPFIND', '/', { auth: 'Basic ' + Buffer.from('mallory:attacker-pw').toString('base64') });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(login.status).toBe(401); // serving never reads an unknown name's keyring (no adoption at login)
    t0 = Date.now();
    await expect(gw.gateway.users.accounts.add('mallory', 'attacker-pw')).rejects.toMatchObject({ code: 'DC_ERR_KEYRING_INVALID' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('offline verify and recover use only keys authenticated for the identity', () => {
  let gw: TestGateway | undefined;
  let tmp: TempDir | undefined;
  afterEach(async () => {
    await gw?.close();
    await tmp?.cleanup();
    gw = undefined;
    tmp = undefined;
  });

  it('a planted newest key and files forged with it: listed as UNAUTHENTICATED, skipped, exit 3 (unless --trust-unauthenticated)', async () => {
    tmp = await makeTempDir('attack-offline');
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    const files = { '/note.txt': Buffer.from('the real note'), '/keep.bin': patternBytes(150_000, 3) };
    for (const [p, b] of Object.entries(files)) expect(await put(gw, p, b, 'alice')).toBe(201);
    const evil = new KeyringAttacker(localAccess(gw.storageRoot));
    const planted = await evil.addPlantedKey('/alice', { 'user:alice': (await evil.publicKeysIn('/alice'))['user:alice']! });
    await evil.storage.write('/alice/forged.txt', evil.forgeFile(planted, Buffer.from('forged by the provider')));
    await evil.storage.write('/alice/note.txt', evil.forgeFile(planted, Buffer.from('a replaced note')));
    const from = join(gw.storageRoot, 'alice');

    const verify = cliIO('alice-pw\n');
    expect(await runVerify(['--from', from, '--user', 'alice'], { ...verify.io, env: {} }, 'unused.yaml')).toBe(3);
    expect(verify.stdout()).toMatch(/^UNAUTHENTICATED \/forged\.txt\t/m);
    expect(verify.stdout()).toMatch(/^UNAUTHENTICATED \/note\.txt\t/m);
    expect(verify.stdout()).toMatch(/1 verified, 0 not encrypted, 0 failed, 2 skipped \(unauthenticated key\)/);

    const out = join(tmp.path, 'out');
    const recover = cliIO('alice-pw\n');
    expect(await runRecover(['--from', from, '--out', out, '--user', 'alice'], { ...recover.io, env: {} })).toBe(3);
    expect(recover.stdout()).toMatch(/^UNAUTHENTICATED \/forged\.txt\t[0-9a-f]{32}\tskipped/m);
    expect(await listFilesBelow(out)).toEqual(['/keep.bin']);
    expect(sha(await readFile(join(out, 'keep.bin')))).toBe(sha(files['/keep.bin']));

    const trusting = cliIO('alice-pw\n');
    const out2 = join(tmp.path, 'out2');
    expect(await runRecover(['--from', from, '--out', out2, '--user', 'alice', '--trust-unauthenticated'], { ...trusting.io, env: {} })).toBe(0);
    expect(trusting.stdout()).toMatch(/^UNAUTHENTICATED \/forged\.txt\t.*decrypted anyway/m);
    expect((await readFile(join(out2, 'forged.txt'), 'utf8'))).toBe('forged by the provider');

    // The gateway (store present) never uses the planted key either: the forged note does not read.
    expect((await get(gw, '/note.txt', 'alice')).status).toBe(502);
    expect((await get(gw, '/keep.bin', 'alice')).status).toBe(200);
  });

  it('an envelope asking for 1 GiB of argon2 memory stops recover at once (DC_ERR_KEYRING_INVALID), before any argon2 work', async () => {
    tmp = await makeTempDir('attack-greedy');
    const evil = new KeyringAttacker(localAccess(tmp.path));
    await evil.plantIdentity('/share', 'user:alice', 'x', { m: 1_048_576, t: 64, p: 1 });
    const t0 = Date.now();
    await expect(runRecover(['--from', join(tmp.path, 'share'), '--out', join(tmp.path, 'out'), '--user', 'alice'], { ...cliIO('x\n').io, env: {} })).rejects.toMatchObject({
      code: 'DC_ERR_KEYRING_INVALID',
    });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('a lost store still finds every key authenticated', () => {
  let gw: TestGateway | undefined;
  let tmp: TempDir | undefined;
  afterEach(async () => {
    await gw?.close();
    await tmp?.cleanup();
    gw = undefined;
    tmp = undefined;
  });

  const recoverAll = async (from: string, out: string, args: string[], stdin: string) => {
    const run = cliIO(stdin);
    const code = await runRecover(['--from', from, '--out', out, ...args], { ...run.io, env: {} });
    return { code, stdout: run.stdout() };
  };

  it('recover --recovery (homes and a shared mount, after rotations and a late login) and --user, straight from the storage', async () => {
    tmp = await makeTempDir('lost-store-recovery');
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, mounts: HOMES_AND_TEAM, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/a1.txt', 'alice one', 'alice')).toBe(201);
    expect(await put(gw, '/team/t1.txt', 'team one', 'alice')).toBe(201);
    const config = await gw.configFile();
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], cliIO('rec-pw\nalice-pw\n').io, config)).toBe(0);
    // bob logs in only now: the gateway wraps his keys to recovery, tagged with the tag key in the store.
    expect(await put(gw, '/b1.txt', 'bob one', 'bob')).toBe(201);
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], cliIO('').io, config)).toBe(0);
    expect(await runKey(['rotate', '/team', '--config', config], cliIO('').io, config)).toBe(0);
    expect(await put(gw, '/a2.txt', 'alice two', 'alice')).toBe(201);
    expect(await put(gw, '/team/t2.txt', 'team two', 'bob')).toBe(201);
    await gw.stop();
    await rm(gw.dataDir, { recursive: true, force: true });

    const want: Record<string, Record<string, string>> = {
      'storage/alice': { '/a1.txt': 'alice one', '/a2.txt': 'alice two' },
      'storage/bob': { '/b1.txt': 'bob one' },
      team: { '/t1.txt': 'team one', '/t2.txt': 'team two' },
    };
    let n = 0;
    for (const [dir, files] of Object.entries(want)) {
      const out = join(tmp.path, `out${n++}`);
      const r = await recoverAll(join(gw.root, dir), out, ['--recovery'], 'rec-pw\n');
      expect(r.stdout, dir).not.toMatch(/UNAUTHENTICATED/);
      expect(r.code, `${dir}\n${r.stdout}`).toBe(0);
      for (const [p, text] of Object.entries(files)) expect(await readFile(join(out, p), 'utf8')).toBe(text);
    }
    for (const [user, dirs] of [['alice', ['storage/alice', 'team']], ['bob', ['storage/bob', 'team']]] as const) {
      for (const dir of dirs) {
        const r = await recoverAll(join(gw.root, dir), join(tmp.path, `out${n++}`), ['--user', user], `${user}-pw\n`);
        expect(r.code, `${user} ${dir}\n${r.stdout}`).toBe(0);
      }
    }
  });

  it('after davcrypt restore, her first login finds her keys authenticated by her own tags: old files read, no fresh key (home and shared)', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, mounts: HOMES_AND_TEAM, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/mine.txt', 'mine', 'alice')).toBe(201);
    expect(await put(gw, '/team/ours.txt', 'ours', 'bob')).toBe(201);
    expect((await get(gw, '/team/ours.txt', 'alice')).status).toBe(200); // her wrap of the team key gets her tag
    const evil = new KeyringAttacker(localAccess(gw.root));
    const homeKey = KeyringAttacker.keyIdOf((await evil.storage.read('/storage/alice/mine.txt'))!);
    const teamKey = KeyringAttacker.keyIdOf((await evil.storage.read('/team/ours.txt'))!);
    await gw.restart({ wipeStore: true });
    const config = await gw.configFile();
    expect(await runRestore(['--yes', '--config', config], cliIO('').io, config)).toBe(0);
    expect((await get(gw, '/mine.txt', 'alice')).body.toString()).toBe('mine');
    expect((await get(gw, '/team/ours.txt', 'alice')).body.toString()).toBe('ours');
    expect(await put(gw, '/mine2.txt', 'mine too', 'alice')).toBe(201);
    expect(await put(gw, '/team/ours2.txt', 'ours too', 'alice')).toBe(201);
    expect(KeyringAttacker.keyIdOf((await evil.storage.read('/storage/alice/mine2.txt'))!)).toBe(homeKey);
    expect(KeyringAttacker.keyIdOf((await evil.storage.read('/team/ours2.txt'))!)).toBe(teamKey);
    expect((await get(gw, '/team/ours2.txt', 'bob')).body.toString()).toBe('ours too');
  });

  it('master-key mode: recover --master-key finds every key authenticated after a lost store and a rotation', async () => {
    tmp = await makeTempDir('lost-store-master');
    const keyFile = join(tmp.path, 'master.key');
    await createMasterKeyFile(keyFile);
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { keys: { mode: 'master', masterKeyFile: keyFile }, auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/one.txt', 'one', 'alice')).toBe(201);
    const config = await gw.configFile();
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], cliIO('').io, config)).toBe(0);
    expect(await put(gw, '/two.txt', 'two', 'alice')).toBe(201);
    await gw.stop();
    await rm(gw.dataDir, { recursive: true, force: true });
    const out = join(tmp.path, 'out');
    const r = await recoverAll(join(gw.storageRoot, 'alice'), out, ['--master-key', keyFile], '');
    expect(r.code, r.stdout).toBe(0);
    expect(await readFile(join(out, 'two.txt'), 'utf8')).toBe('two');
  });
});

describe('residual risks, shown (docs/SECURITY.md §3)', () => {
  let gw: TestGateway | undefined;
  let tmp: TempDir | undefined;
  afterEach(async () => {
    await gw?.close();
    await tmp?.cleanup();
    gw = undefined;
    tmp = undefined;
  });

  it('rollback of a keyring to an older authenticated copy: no effect while the store has the keyring; after a lost store the older current key is used again', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/one.txt', 'one', 'alice')).toBe(201);
    const evil = new KeyringAttacker(localAccess(gw.storageRoot));
    const old = (await evil.storage.read('/alice/.davcrypt/keyring.json'))!;
    const oldKey = KeyringAttacker.keyIdOf((await evil.storage.read('/alice/one.txt'))!);
    const config = await gw.configFile();
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], cliIO('').io, config)).toBe(0);
    await evil.storage.write('/alice/.davcrypt/keyring.json', old); // the provider serves the older keyring again
    expect(await put(gw, '/two.txt', 'two', 'alice')).toBe(201);
    expect(KeyringAttacker.keyIdOf((await evil.storage.read('/alice/two.txt'))!)).not.toBe(oldKey);
    await gw.restart({ wipeStore: true });
    await evil.storage.write('/alice/.davcrypt/keyring.json', old);
    await gw.gateway.users.accounts.add('alice', 'alice-pw');
    expect(await put(gw, '/three.txt', 'three', 'alice')).toBe(201);
    expect(KeyringAttacker.keyIdOf((await evil.storage.read('/alice/three.txt'))!)).toBe(oldKey); // residual: rolled back
    expect((await get(gw, '/two.txt', 'alice')).status).toBe(502); // ...and the newer key is unknown until the keyring comes back
  });

  it("a stolen store's recovery tag key: recover --recovery accepts the thief's key (residual); reset-password never takes it while the store has the keyring, and after a lost store encrypts with a fresh key", async () => {
    tmp = await makeTempDir('stolen-store');
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/mine.txt', 'mine', 'alice')).toBe(201);
    const config = await gw.configFile();
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], cliIO('rec-pw\nalice-pw\n').io, config)).toBe(0);
    const stolen = (await gw.gateway.store.get<{ tagKey: string }>('identity:recovery'))!; // a copy of the store
    const evil = new KeyringAttacker(localAccess(gw.storageRoot));
    const pubs = await evil.publicKeysIn('/alice');
    const planted = await evil.addPlantedKey('/alice', { recovery: pubs.recovery!, 'user:alice': pubs['user:alice']! }, { tagKeys: { recovery: Buffer.from(stolen.tagKey, 'base64') } });
    await evil.storage.write('/alice/forged.txt', evil.forgeFile(planted, Buffer.from('forged with a stolen tag key')));

    const offline = cliIO('rec-pw\n');
    const out = join(tmp.path, 'out');
    expect(await runRecover(['--from', join(gw.storageRoot, 'alice'), '--out', out, '--recovery'], { ...offline.io, env: {} })).toBe(0);
    expect(await readFile(join(out, 'forged.txt'), 'utf8')).toBe('forged with a stolen tag key'); // residual

    expect(await runRecovery(['reset-password', 'alice', '--config', config], cliIO('rec-pw\nalice-2\n').io, config)).toBe(0);
    gw.users.alice = 'alice-2';
    expect(await put(gw, '/after-reset.txt', 'after reset', 'alice')).toBe(201);
    expect(evil.decrypt(await evil.storage.read('/alice/after-reset.txt'), planted)).toBeUndefined();

    await gw.restart({ wipeStore: true });
    expect(await runRecovery(['restore', '--user', 'alice', '--config', config], cliIO('rec-pw\n').io, config)).toBe(0);
    const reset = cliIO('rec-pw\nalice-3\n');
    expect(await runRecovery(['reset-password', 'alice', '--config', config], reset.io, config)).toBe(0);
    expect(reset.stdout()).toMatch(/new current key/);
    gw.users.alice = 'alice-3';
    expect(await put(gw, '/after-lost-store.txt', 'after the lost store', 'alice')).toBe(201);
    expect(evil.decrypt(await evil.storage.read('/alice/after-lost-store.txt'), planted)).toBeUndefined();
    expect((await get(gw, '/mine.txt', 'alice')).body.toString()).toBe('mine');
  });
});

describe('keyring format 1 is read and migrated on first trusted use', () => {
  let gw: TestGateway | undefined;
  let tmp: TempDir | undefined;
  afterEach(async () => {
    await gw?.close();
    await tmp?.cleanup();
    gw = undefined;
    tmp = undefined;
  });

  /** A format 2 keyring as davcrypt wrote it before format 2: format 1, no mount, no seq, no tags, `current`. */
  const asFormat1 = (ring: any) => {
    const keys = [...ring.keys].sort((a: any, b: any) => a.seq - b.seq);
    return {
      format: 'davcrypt-keyring/1',
      current: keys.at(-1).id,
      keys: keys.map((k: any) => ({ id: k.id, created: k.created, wraps: k.wraps.map(({ tag: _tag, ...w }: any) => w) })),
      identities: ring.identities,
    };
  };

  it('an installation from before format 2 (store and backend in format 1, recovery without tag key) keeps working; tags come with use', async () => {
    tmp = await makeTempDir('format1');
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { auth: { recheckSeconds: 0 } } });
    const files = { '/a.txt': Buffer.from('alpha'), '/big.bin': patternBytes(200_000, 9) };
    for (const [p, b] of Object.entries(files)) expect(await put(gw, p, b, 'alice')).toBe(201);
    const config = await gw.configFile();
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], cliIO('rec-pw\nalice-pw\n').io, config)).toBe(0);
    // Turn it into what the previous davcrypt left behind.
    let store = gw.gateway.store;
    const v1 = asFormat1(JSON.parse((await store.get<string>('keyring:home:alice'))!));
    await store.set('keyring:home:alice', JSON.stringify(v1));
    const { tagKey: _t, ...oldRecovery } = (await store.get<Record<string, unknown>>('identity:recovery'))!;
    await store.set('identity:recovery', oldRecovery);
    const evil = new KeyringAttacker(localAccess(gw.storageRoot)); // (here only a convenient raw writer)
    await evil.writeKeyring('/alice', v1);
    await gw.restart();
    store = gw.gateway.store;
    const from = join(gw.storageRoot, 'alice');
    const snapshot = join(tmp.path, 'v1-copy');
    await cp(from, snapshot, { recursive: true });

    // Offline, nothing in a format 1 keyring is authenticated.
    const before = await (async () => {
      const run = cliIO('alice-pw\n');
      return { code: await runRecover(['--from', snapshot, '--out', join(tmp!.path, 'o1'), '--user', 'alice'], { ...run.io, env: {} }), out: run.stdout() };
    })();
    expect(before.code).toBe(3);
    expect(before.out).toMatch(/2 skipped \(unauthenticated key\)/);
    expect(await runRecover(['--from', snapshot, '--out', join(tmp.path, 'o2'), '--user', 'alice', '--trust-unauthenticated'], { ...cliIO('alice-pw\n').io, env: {} })).toBe(0);

    // First trusted use (her login, store copy): both copies become format 2, tagged for her.
    for (const [p, b] of Object.entries(files)) expect(sha((await get(gw, p, 'alice')).body)).toBe(sha(b));
    expect((await evil.readKeyring('/alice'))!.format).toBe('davcrypt-keyring/2');
    expect(JSON.parse((await store.get<string>('keyring:home:alice'))!).format).toBe('davcrypt-keyring/2');
    expect(await runRecover(['--from', from, '--out', join(tmp.path, 'o3'), '--user', 'alice'], { ...cliIO('alice-pw\n').io, env: {} })).toBe(0);

    // The recovery wraps get their tags once the recovery tag key is in the store: `recovery tag`.
    expect(await runRecover(['--from', from, '--out', join(tmp.path, 'o4'), '--recovery'], { ...cliIO('rec-pw\n').io, env: {} })).toBe(3);
    const tag = cliIO('rec-pw\n');
    expect(await runRecovery(['tag', '--config', config], tag.io, config)).toBe(0);
    expect(tag.stdout()).toMatch(/^TAGGED\thome:alice\t1$/m);
    expect(await runRecover(['--from', from, '--out', join(tmp.path, 'o5'), '--recovery'], { ...cliIO('rec-pw\n').io, env: {} })).toBe(0);

    // And a lost store now: her identity comes back (with her password), her own tags vouch for her keys.
    await gw.restart({ wipeStore: true });
    await gw.gateway.users.accounts.add('alice', 'alice-pw');
    for (const [p, b] of Object.entries(files)) expect(sha((await get(gw, p, 'alice')).body)).toBe(sha(b));
  });
});
