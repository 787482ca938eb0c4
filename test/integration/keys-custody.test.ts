// Key custody end to end: a running gateway (test/helpers/gateway.ts) on local
// storage, the custody CLI commands run in-process against the same sqlite store,
// and HTTP requests checking what users can read afterwards: recovery init (with
// lazy wraps at login) -> reset-password; passwd touches no file; grant/revoke on a
// shared mount; lost store + reset-password from the backend copies alone.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { runKey } from '../../src/cli/key.js';
import { runMount } from '../../src/cli/mount.js';
import { runRecover } from '../../src/cli/recover.js';
import { runRecovery } from '../../src/cli/recovery.js';
import { runUser } from '../../src/cli/user.js';
import { openIdentity, highestKey, parseKeyring, type Keyring } from '../../src/crypto/index.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { inProcessCliIO } from '../helpers/cli.js';
import { basicAuthorization } from '../../src/backends/webdav-http.js';
import { makeTempDir } from '../helpers/tmp.js';

/** The current key of a keyring the gateway wrote (format 2: highest sequence number). */
const currentOfRing = (k: { keys: { id: string; seq: number }[] }): string => highestKey(k.keys)!.id;

const cliIO = inProcessCliIO;

const basic = basicAuthorization;

const put = async (gw: TestGateway, path: string, body: Buffer | string, auth: string): Promise<number> => (await gatewayRequest(gw, 'PUT', path, { auth, body })).status;

const get = (gw: TestGateway, path: string, auth: string) => gatewayRequest(gw, 'GET', path, { auth });

const pattern = patternBytes;

async function keyringAt(dir: string): Promise<Keyring> {
  return parseKeyring(await readFile(join(dir, '.davcrypt', 'keyring.json'), 'utf8'));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const TEAM = (users: string[]) => [
  { path: '/', backend: { type: 'local', root: './storage/{user}' } },
  { path: '/team', users, backend: { type: 'local', root: './team' } },
];

describe('key custody against a running gateway', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('recovery init covers what it can, the gateway wraps the rest at login, reset-password keeps every file readable', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, mounts: TEAM(['alice', 'bob']), config: { auth: { recheckSeconds: 0 } } });
    const files: Record<string, Buffer> = { '/a.txt': Buffer.from('alpha'), '/dir/big.bin': pattern(200_000, 1) };
    expect((await request(new URL('/dir/', gw.url), { method: 'MKCOL', headers: { authorization: gw.authHeader('alice') } })).statusCode).toBe(201);
    for (const [p, b] of Object.entries(files)) expect(await put(gw, p, b, gw.authHeader('alice'))).toBeLessThan(300);
    expect(await put(gw, '/team/plan.txt', 'shared plan', gw.authHeader('alice'))).toBeLessThan(300);
    expect(await put(gw, '/bob.txt', 'bob file', gw.authHeader('bob'))).toBeLessThan(300);
    const config = await gw.configFile();

    const init = cliIO('rec-pw\nalice-pw\n');
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], init.io, config)).toBe(0);
    expect(init.stdout()).toMatch(/^COVERED\thome:alice\t1\/1 keys/m);
    expect(init.stdout()).toMatch(/^COVERED\tshared:\/team\t1\/1 keys/m);
    expect(init.stdout()).toMatch(/^PENDING\thome:bob\t0\/1 keys/m);
    // A second init is refused.
    await expect(runRecovery(['init', '--config', config], cliIO('x\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_EXISTS' });

    // Backend copies carry the recovery identity (for offline recover) and its wraps.
    const aliceRing = await keyringAt(join(gw.storageRoot, 'alice'));
    expect(aliceRing.identities.recovery?.envelope).toBeDefined();
    expect(aliceRing.keys[0]!.wraps.map((w) => w.to).sort()).toEqual(['recovery', 'user:alice']);
    expect((await keyringAt(join(gw.storageRoot, 'bob'))).keys[0]!.wraps.map((w) => w.to)).toEqual(['user:bob']);

    // bob has no recovery wrap yet: resetting him is refused and changes nothing.
    await expect(runRecovery(['reset-password', 'bob', '--config', config], cliIO('rec-pw\nbob-new\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_NO_ACCESS' });
    expect((await get(gw, '/bob.txt', basic('bob', 'bob-pw'))).status).toBe(200);
    // ...and that login (after the keys epoch changed) let the gateway add the missing wrap.
    expect((await keyringAt(join(gw.storageRoot, 'bob'))).keys[0]!.wraps.map((w) => w.to).sort()).toEqual(['recovery', 'user:bob']);

    const before = await stat(join(gw.storageRoot, 'alice', 'dir', 'big.bin'));
    const rawBefore = sha(await readFile(join(gw.storageRoot, 'alice', 'dir', 'big.bin')));
    const reset = cliIO('rec-pw\nalice-new\n');
    expect(await runRecovery(['reset-password', 'alice', '--config', config], reset.io, config)).toBe(0);
    expect(reset.stdout()).toMatch(/^home:alice\t1 key re-wrapped/m);
    expect(reset.stdout()).toMatch(/^shared:\/team\t1 key re-wrapped/m);
    expect((await get(gw, '/a.txt', basic('alice', 'alice-pw'))).status).toBe(401);
    for (const [p, b] of Object.entries(files)) expect(sha((await get(gw, p, basic('alice', 'alice-new'))).body), p).toBe(sha(b));
    expect((await get(gw, '/team/plan.txt', basic('alice', 'alice-new'))).body.toString()).toBe('shared plan');
    expect((await get(gw, '/team/plan.txt', basic('bob', 'bob-pw'))).body.toString()).toBe('shared plan');
    // No file was touched; the new identity is in the escrow copy.
    const after = await stat(join(gw.storageRoot, 'alice', 'dir', 'big.bin'));
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(sha(await readFile(join(gw.storageRoot, 'alice', 'dir', 'big.bin')))).toBe(rawBefore);
    const ring = await keyringAt(join(gw.storageRoot, 'alice'));
    await expect(openIdentity(ring.identities['user:alice']!.envelope!, 'user:alice', 'alice-new')).resolves.toHaveLength(32);

    // bob is covered now, so his reset works too.
    expect(await runRecovery(['reset-password', 'bob', '--config', config], cliIO('rec-pw\nbob-new\n').io, config)).toBe(0);
    expect((await get(gw, '/bob.txt', basic('bob', 'bob-new'))).body.toString()).toBe('bob file');

    // Offline: the storage alone plus the recovery password.
    const tmp = await makeTempDir('keys-recover');
    try {
      const rec = cliIO('rec-pw\n');
      expect(await runRecover(['--from', join(gw.storageRoot, 'alice'), '--out', join(tmp.path, 'out'), '--recovery'], { ...rec.io, env: {} })).toBe(0);
      expect(sha(await readFile(join(tmp.path, 'out', 'dir', 'big.bin')))).toBe(sha(files['/dir/big.bin']!));
    } finally {
      await tmp.cleanup();
    }
  });

  it('user passwd re-wraps only envelopes (home and shared keyrings), touches no file, old password fails', async () => {
    gw = await startTestGateway({ users: { alice: 'old-pw', bob: 'bob-pw' }, mounts: TEAM(['alice', 'bob']), config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/mine.bin', pattern(150_000, 3), basic('alice', 'old-pw'))).toBeLessThan(300);
    expect(await put(gw, '/team/t.txt', 'team', basic('alice', 'old-pw'))).toBeLessThan(300);
    const paths = [join(gw.storageRoot, 'alice', 'mine.bin'), join(gw.root, 'team', 't.txt')];
    const before = await Promise.all(paths.map(async (p) => ({ mtime: (await stat(p)).mtimeMs, sha: sha(await readFile(p)) })));
    const teamKeysBefore = (await keyringAt(join(gw.root, 'team'))).keys;
    const config = await gw.configFile();
    const run = cliIO('old-pw\nnew-pw\n');
    await runUser(['passwd', 'alice', '--config', config], run.io, config);
    expect(run.stdout()).toBe('password of alice changed (2 keyrings rewritten)\n');
    const after = await Promise.all(paths.map(async (p) => ({ mtime: (await stat(p)).mtimeMs, sha: sha(await readFile(p)) })));
    expect(after).toEqual(before);
    const team = await keyringAt(join(gw.root, 'team'));
    expect(team.keys).toEqual(teamKeysBefore); // same keys, same wraps
    await expect(openIdentity(team.identities['user:alice']!.envelope!, 'user:alice', 'new-pw')).resolves.toHaveLength(32);
    await expect(openIdentity(team.identities['user:alice']!.envelope!, 'user:alice', 'old-pw')).rejects.toMatchObject({ code: 'DC_ERR_WRONG_PASSWORD' });
    expect((await get(gw, '/mine.bin', basic('alice', 'old-pw'))).status).toBe(401);
    expect(sha((await get(gw, '/mine.bin', basic('alice', 'new-pw'))).body)).toBe(sha(pattern(150_000, 3)));
    expect((await get(gw, '/team/t.txt', basic('alice', 'new-pw'))).body.toString()).toBe('team');
  });

  it('mount grant opens a shared mount to a new member; revoke rotates and shuts her out', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' }, mounts: TEAM(['alice', 'bob', 'carol']), config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/team/plan.txt', 'plan v1', gw.authHeader('alice'))).toBeLessThan(300);
    // carol joins after the team key exists: nobody has wrapped it to her yet.
    await gw.gateway.users.accounts.add('carol', 'carol-pw');
    gw.users.carol = 'carol-pw';
    expect((await get(gw, '/team/plan.txt', gw.authHeader('carol'))).status).toBe(404);
    const config = await gw.configFile();
    await expect(runMount(['grant', '/team', 'dave', '--as', 'alice', '--config', config], cliIO('alice-pw\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
    await expect(runMount(['grant', '/team', 'carol', '--as', 'alice', '--config', config], cliIO('wrong\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_WRONG_PASSWORD' });
    const grant = cliIO('alice-pw\n');
    expect(await runMount(['grant', '/team', 'carol', '--as', 'alice', '--config', config], grant.io, config)).toBe(0);
    expect(grant.stdout()).toMatch(/granted carol on shared:\/team: 1 key wrapped/);
    expect((await get(gw, '/team/plan.txt', gw.authHeader('carol'))).body.toString()).toBe('plan v1');

    const oldKey = currentOfRing(await keyringAt(join(gw.root, 'team')));
    const revoke = cliIO('');
    expect(await runMount(['revoke', '/team', 'carol', '--config', config], revoke.io, config)).toBe(0);
    expect(revoke.stdout()).toMatch(/note: carol is still listed/);
    const ring = await keyringAt(join(gw.root, 'team'));
    expect(currentOfRing(ring)).not.toBe(oldKey);
    expect(ring.identities['user:carol']).toBeUndefined();
    expect(ring.keys.flatMap((k) => k.wraps.map((w) => w.to))).not.toContain('user:carol');
    expect(ring.keys.find((k) => k.id === currentOfRing(ring))!.wraps.map((w) => w.to).sort()).toEqual(['user:alice', 'user:bob']);
    // carol no longer sees the mount (her cached login was dropped with the keys epoch).
    expect((await get(gw, '/team/plan.txt', gw.authHeader('carol'))).status).toBe(404);
    // New files use the new key; everyone else reads old and new; alice's login did not re-grant carol.
    expect(await put(gw, '/team/after.txt', 'after revoke', gw.authHeader('alice'))).toBeLessThan(300);
    expect((await readFile(join(gw.root, 'team', 'after.txt'))).subarray(10, 26).toString('hex')).toBe(currentOfRing(ring));
    expect((await get(gw, '/team/plan.txt', gw.authHeader('bob'))).body.toString()).toBe('plan v1');
    expect((await get(gw, '/team/after.txt', gw.authHeader('bob'))).body.toString()).toBe('after revoke');
    expect((await keyringAt(join(gw.root, 'team'))).identities['user:carol']).toBeUndefined();
    // Granting again brings her back (old and new keys).
    expect(await runMount(['grant', '/team', 'carol', '--recovery', '--config', config], cliIO('x\n').io, config).catch((e) => e.code)).toBe('DC_ERR_NO_ACCESS');
    expect(await runMount(['grant', '/team', 'carol', '--as', 'bob', '--config', config], cliIO('bob-pw\n').io, config)).toBe(0);
    expect((await get(gw, '/team/after.txt', gw.authHeader('carol'))).body.toString()).toBe('after revoke');
  });

  it('lost store after recovery init: recovery restore (the password proves the identity), then reset-password from the backend keyrings alone', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    const data = pattern(100_000, 7);
    expect(await put(gw, '/keep.bin', data, gw.authHeader('alice'))).toBeLessThan(300);
    const config = await gw.configFile();
    const init = cliIO('rec-pw\nalice-pw\n');
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], init.io, config)).toBe(0);
    const fingerprint = /recovery identity fingerprint: ([0-9a-f]{4}(?: [0-9a-f]{4}){15})/.exec(init.stdout())![1]!;
    await gw.restart({ wipeStore: true });
    expect(await gw.gateway.users.records.get('alice')).toBeUndefined();
    // No recovery identity is ever taken from the backend by itself.
    await expect(runRecovery(['reset-password', 'alice', '--config', config], cliIO('rec-pw\nalice-new\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_NO_ACCESS' });
    // restore needs the user records to find the homes (the accounts come back first); here: the shared index is empty, so add her record back.
    await gw.gateway.users.accounts.add('alice', 'alice-pw');
    await expect(runRecovery(['restore', '--config', config], cliIO('bad-rec\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_WRONG_PASSWORD' });
    const restore = cliIO('rec-pw\n');
    expect(await runRecovery(['restore', '--config', config], restore.io, config)).toBe(0);
    expect(restore.stdout()).toContain(`fingerprint: ${fingerprint}`);
    const reset = cliIO('rec-pw\nalice-new\n');
    await expect(runRecovery(['reset-password', 'alice', '--config', config], cliIO('bad-rec\nalice-new\n').io, config)).rejects.toMatchObject({ code: 'DC_ERR_WRONG_PASSWORD' });
    expect(await runRecovery(['reset-password', 'alice', '--config', config], reset.io, config)).toBe(0);
    expect(reset.stdout()).toMatch(/^home:alice\t1 key re-wrapped/m);
    expect((await get(gw, '/keep.bin', basic('alice', 'alice-pw'))).status).toBe(401);
    expect(sha((await get(gw, '/keep.bin', basic('alice', 'alice-new'))).body)).toBe(sha(data));
  });

  it('key rotate: new files use the new key id, old files still read; rotate needs no password', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/old.txt', 'old', gw.authHeader())).toBeLessThan(300);
    const config = await gw.configFile();
    await expect(runKey(['rotate', '/', '--config', config], cliIO('').io, config)).rejects.toMatchObject({ code: 'DC_ERR_USAGE' }); // per-user: --user
    const out = cliIO('');
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], out.io, config)).toBe(0);
    const ring = await keyringAt(join(gw.storageRoot, 'alice'));
    expect(ring.keys).toHaveLength(2);
    expect(out.stdout()).toContain(`new current key ${currentOfRing(ring)}`);
    expect(await put(gw, '/new.txt', 'new', gw.authHeader())).toBeLessThan(300);
    expect((await readFile(join(gw.storageRoot, 'alice', 'new.txt'))).subarray(10, 26).toString('hex')).toBe(currentOfRing(ring));
    expect((await readFile(join(gw.storageRoot, 'alice', 'old.txt'))).subarray(10, 26).toString('hex')).toBe(ring.keys[0]!.id);
    expect((await get(gw, '/old.txt', gw.authHeader())).body.toString()).toBe('old');
    expect((await get(gw, '/new.txt', gw.authHeader())).body.toString()).toBe('new');
  });
});
