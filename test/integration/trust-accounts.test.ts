// Accounts come only from the gateway's store or an operator command (issue 11, rule 1),
// tried as a hostile storage provider would (test/helpers/backend-attacker.ts: it writes
// keyrings from docs/FORMAT.md and public keys alone): a planted home keyring creates no
// account at login, not even with a `users: ['*']` shared mount; a planted admin keyring
// never becomes the initial admin; `davcrypt restore` brings users back after a lost store
// (after confirmation, with fingerprints), never a removed one; master-key mode too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { resolveConfig } from '../../src/config/index.js';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { createLogger } from '../../src/logging.js';
import { forgeIdentity, forgeKeyring, keysOpenedBy, localBackendFiles } from '../helpers/backend-attacker.js';
import { runDavcrypt } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, TEST_ARGON2, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
const status = async (gw: { url: string }, method: string, path: string, auth: string, body?: Buffer | string) =>
  (await gatewayRequest(gw, method, path, { auth, body })).status;

const HOME_AND_TEAM = [
  { path: '/', backend: { type: 'local', root: './storage/{user}' } },
  { path: '/team', users: ['*'], backend: { type: 'local', root: './team' } },
];

describe('accounts never come from the backend', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('a planted <root>/mallory/.davcrypt/keyring.json creates no account at login (401), with a users: [*] shared mount', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, mounts: HOME_AND_TEAM });
    expect(await status(gw, 'PUT', '/team/secret.txt', gw.authHeader(), 'team secret')).toBeLessThan(300);
    const mallory = await forgeIdentity('user:mallory', 'attacker-pw');
    const backend = localBackendFiles(gw.root);
    await backend.put('storage/mallory/.davcrypt/keyring.json', forgeKeyring([mallory]).json);

    expect(await status(gw, 'GET', '/team/secret.txt', basic('mallory', 'attacker-pw'))).toBe(401);
    expect(await gw.gateway.users.records.get('mallory')).toBeUndefined();
    // Fresh sessions: on the old code alice's next login wrapped every /team key to the adopted mallory.
    await gw.restart();
    expect(await status(gw, 'PROPFIND', '/', basic('mallory', 'attacker-pw'))).toBe(401);
    expect((await gatewayRequest(gw, 'GET', '/team/secret.txt', { auth: gw.authHeader() })).body.toString()).toBe('team secret');
    const team = await readFile(join(gw.root, 'team', '.davcrypt', 'keyring.json'), 'utf8');
    expect(JSON.parse(team).identities['user:mallory']).toBeUndefined();
    expect(keysOpenedBy(team, mallory)).toEqual([]); // the attacker decrypts nothing offline
    expect((await gw.gateway.users.records.names())).toEqual(['alice']);
  });

  it('a planted shared-mount identity creates no account either', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, mounts: [{ path: '/', users: ['*'], backend: { type: 'local', root: './shared' } }] });
    const mallory = await forgeIdentity('user:mallory', 'attacker-pw');
    // Before anyone used the mount: the only keyring there is the attacker's.
    await localBackendFiles(gw.root).put('shared/.davcrypt/keyring.json', forgeKeyring([mallory]).json);
    expect(await status(gw, 'PROPFIND', '/', basic('mallory', 'attacker-pw'))).toBe(401);
    expect(await gw.gateway.users.records.get('mallory')).toBeUndefined();
  });

  it('first start with a planted admin/.davcrypt/keyring.json still creates a fresh admin with a new password', async () => {
    const tmp = await makeTempDir('trust-admin');
    try {
      const admin = await forgeIdentity('user:admin', 'attacker-admin-pw');
      await localBackendFiles(join(tmp.path, 'storage')).put('admin/.davcrypt/keyring.json', forgeKeyring([admin]).json);
      const config = resolveConfig(
        { dataDir: './data', server: { port: 0 }, keys: { argon2: { ...TEST_ARGON2 } }, mounts: [{ path: '/', backend: { type: 'local', root: './storage/{user}' } }] },
        { cwd: tmp.path, env: {} },
      );
      const printed: string[] = [];
      const app = await startGateway(config, { logger: createLogger({ silent: true }), env: {}, print: (l) => printed.push(l) });
      try {
        expect(printed).toHaveLength(1);
        const password = (await readFile(join(tmp.path, 'data', 'initial-admin-password'), 'utf8')).trim();
        expect(printed[0]).toContain(password);
        expect((await app.users.records.get('admin'))?.publicKey).not.toBe(admin.entry.publicKey);
        const url = { url: app.url };
        expect(await status(url, 'PROPFIND', '/', basic('admin', 'attacker-admin-pw'))).toBe(401);
        // The login succeeds and her home works: the planted keyring in it is never used (a fresh key is made).
        const home = await fetch(new URL('/', app.url), { method: 'PROPFIND', headers: { authorization: basic('admin', password), depth: '1' } });
        expect(home.status).toBe(207);
        await app.users.authenticator.authenticate('admin', password, '127.0.0.1');
      } finally {
        await app.close();
      }
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('davcrypt restore after a lost store', () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir('trust-restore');
  });
  afterAll(async () => tmp.cleanup());

  for (const mode of ['password', 'master'] as const) {
    it(`lists with fingerprints, asks, adopts with --yes; restored users log in with their old passwords and read their files (${mode} mode)`, async () => {
      const keyFile = join(tmp.path, mode, 'master.key');
      if (mode === 'master') await createMasterKeyFile(keyFile);
      const gw = await startTestGateway({
        users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' },
        mounts: HOME_AND_TEAM,
        config: mode === 'master' ? { keys: { mode: 'master', masterKeyFile: keyFile } } : {},
      });
      try {
        const data = patternBytes(150_000, 3);
        expect(await status(gw, 'PUT', '/a.bin', gw.authHeader('alice'), data)).toBeLessThan(300);
        expect(await status(gw, 'PUT', '/b.txt', gw.authHeader('bob'), 'bob home')).toBeLessThan(300);
        expect(await status(gw, 'PUT', '/team/t.txt', gw.authHeader('alice'), 'team file')).toBeLessThan(300);
        expect(await status(gw, 'GET', '/team/t.txt', gw.authHeader('bob'))).toBe(200); // bob's wrap of /team
        expect(await status(gw, 'PUT', '/c.txt', gw.authHeader('carol'), 'carol home')).toBeLessThan(300);
        const config = await gw.configFile();
        const listed = await runDavcrypt(['user', 'list', '--config', config]);
        const fingerprintOf = (name: string, text: string) => new RegExp(`${name}\\t.*SHA-256 ([0-9a-f ]{79})`).exec(text)?.[1];
        const aliceFp = fingerprintOf('alice', listed.stdout);
        expect(aliceFp).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);

        // Removed users stay removed: the marker in the store is respected.
        expect((await runDavcrypt(['user', 'remove', 'carol', '--config', config])).code).toBe(0);
        const keep = await runDavcrypt(['restore', '--yes', '--config', config]);
        expect(keep.code).toBe(0);
        expect(keep.stdout).toMatch(/^SKIP carol\t.*removed with davcrypt user remove/m);
        expect(keep.stdout).toMatch(/^SKIP alice\t.*in the store/m);
        expect(await gw.gateway.users.records.get('carol')).toBeUndefined();

        // The store is lost. A planted home shows up in the list with a fingerprint nobody recorded.
        await gw.restart({ wipeStore: true });
        const mallory = await forgeIdentity('user:mallory', 'attacker-pw');
        await localBackendFiles(gw.root).put('storage/mallory/.davcrypt/keyring.json', forgeKeyring([mallory]).json);
        expect(await status(gw, 'GET', '/a.bin', gw.authHeader('alice'))).toBe(401); // serving adopts nobody

        const declined = await runDavcrypt(['restore', '--config', config], 'n\n');
        expect(declined.code).toBe(1);
        expect(declined.stderr).toMatch(/DC_ERR_ABORTED: not confirmed; nothing was changed/);
        expect(declined.stderr).toMatch(/restore 4 users \(alice, bob, carol, mallory\)\? \[y\/N\]/);
        expect(fingerprintOf('ADOPT alice', declined.stdout)).toBe(aliceFp);
        expect(declined.stdout).toMatch(/^ADOPT alice\t.*\(home:alice, shared:\/team\)/m);
        expect(await gw.gateway.users.records.names()).toEqual([]);

        const restored = await runDavcrypt(['restore', '--user', 'alice', '--user', 'bob', '--config', config], 'y\n');
        expect(restored.stderr).toMatch(/restore 2 users \(alice, bob\)\?/);
        expect(restored.code).toBe(0);
        expect(restored.stdout).toMatch(/restore: 2 users restored: alice, bob/);
        expect(restored.stdout).not.toMatch(/mallory/);
        expect(await gw.gateway.users.records.names()).toEqual(['alice', 'bob']);

        const got = await gatewayRequest(gw, 'GET', '/a.bin', { auth: gw.authHeader('alice') });
        expect(got.status).toBe(200);
        expect(got.body.equals(data)).toBe(true);
        expect((await gatewayRequest(gw, 'GET', '/b.txt', { auth: gw.authHeader('bob') })).body.toString()).toBe('bob home');
        expect((await gatewayRequest(gw, 'GET', '/team/t.txt', { auth: gw.authHeader('bob') })).body.toString()).toBe('team file');
        expect(await status(gw, 'GET', '/a.bin', basic('alice', 'wrong'))).toBe(401);

        // --yes without a filter takes what is listed; carol (no marker after the loss) and mallory too:
        // that is why restore shows fingerprints and takes --user.
        const rest = await runDavcrypt(['restore', '--yes', '--config', config]);
        expect(rest.code).toBe(0);
        expect(rest.stdout).toMatch(/restore: 2 users restored: carol, mallory/);
      } finally {
        await gw.close();
      }
    });
  }
});
