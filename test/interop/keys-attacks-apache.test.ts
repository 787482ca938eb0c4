// Issue 11, keys half, with Apache mod_dav as the backend (127.0.0.1): the hostile storage
// provider (test/helpers/keyring-attacker.ts, writing over WebDAV with the share's own
// credentials, knowing only docs/FORMAT.md and the public keys in keyrings) plants keyrings
// and forged files; the gateway never encrypts with its keys, refuses oversized keyrings at
// once, the offline tools read straight from the share skip what its keys made (exit 3), and
// a lost store still recovers every file with the recovery password. Skips when apache2 is missing.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runKey } from '../../src/cli/key.js';
import { runRecover } from '../../src/cli/recover.js';
import { runRecovery } from '../../src/cli/recovery.js';
import { runVerify } from '../../src/cli/verify.js';
import { basicAuthorization } from '../../src/backends/webdav-http.js';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { inProcessCliIO, listFilesBelow } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { KeyringAttacker, webdavAccess } from '../helpers/keyring-attacker.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] keys-attacks-apache: ${missing}`);

const SVC = 'svc-pw';
const cliIO = inProcessCliIO;

describe.skipIf(missing !== undefined)('a hostile WebDAV backend (Apache mod_dav) against the keyrings', () => {
  let tmp: TempDir;
  let apache: ApacheServer;
  let gw: TestGateway | undefined;
  let n = 0;
  /** A fresh base folder on the share per test, so tests do not see each other's keyrings. */
  let base = '';

  const webdavMount = (path: string, rel: string, users?: string[]) => ({
    path,
    ...(users ? { users } : {}),
    backend: { type: 'webdav', url: apache.url + rel, username: 'svc', password: SVC },
  });
  const mounts = (withTeam: boolean) => [webdavMount('/', `${base}/homes/{user}/`), ...(withTeam ? [webdavMount('/team', `${base}/team/`, ['*'])] : [])];
  const put = async (path: string, body: Buffer | string, user: string) => (await gatewayRequest(gw!, 'PUT', path, { auth: gw!.authHeader(user), body })).status;
  const get = (path: string, user: string) => gatewayRequest(gw!, 'GET', path, { auth: gw!.authHeader(user) });
  const mkcol = async (rel: string) => {
    const res = await request(apache.url + rel, { method: 'MKCOL', headers: { authorization: basicAuthorization('svc', SVC) } });
    await res.body.dump();
    expect(res.statusCode).toBe(201);
  };

  beforeAll(async () => {
    tmp = await makeTempDir('keys-attacks-apache');
    apache = await startApache({ root: join(tmp.path, 'share'), user: 'svc', password: SVC });
  });
  afterAll(async () => {
    await apache?.stop();
    await tmp?.cleanup();
  });
  const setUp = async () => {
    base = `t${n++}`;
    for (const rel of [`${base}/`, `${base}/homes/`, `${base}/team/`]) await mkcol(rel);
    return new KeyringAttacker(webdavAccess(apache.url + base + '/', 'svc', SVC));
  };
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it("new user's first login and a mount added to the config: planted keyrings are not used", async () => {
    const evil = await setUp();
    gw = await startTestGateway({ users: { bob: 'bob-pw', alice: 'alice-pw' }, mounts: mounts(false), config: { auth: { recheckSeconds: 0 } } });
    expect(await put('/mine.txt', 'bob', 'bob')).toBe(201);
    const bobPub = (await evil.publicKeysIn('/homes/bob'))['user:bob']!;
    const alicePub = Buffer.from((await gw.gateway.users.records.get('alice'))!.publicKey, 'base64'); // every public key is known
    const home = await evil.plantKeyring('/homes/alice', { 'user:alice': alicePub });
    const team = await evil.plantKeyring('/team', { 'user:alice': alicePub, 'user:bob': bobPub });
    await gw.restart({ mounts: mounts(true) });
    expect(await put('/secret.txt', 'alice only', 'alice')).toBe(201);
    expect(await put('/team/plan.txt', 'the plan', 'alice')).toBe(201);
    expect(evil.decrypt(await evil.storage.read('/homes/alice/secret.txt'), home)).toBeUndefined();
    expect(evil.decrypt(await evil.storage.read('/team/plan.txt'), team)).toBeUndefined();
    expect((await get('/secret.txt', 'alice')).body.toString()).toBe('alice only');
    expect((await get('/team/plan.txt', 'bob')).body.toString()).toBe('the plan');
  });

  it('master-key mode: a planted home keyring wrapped to the master public key is not used', async () => {
    const evil = await setUp();
    const keyFile = join(tmp.path, `master-${base}.key`);
    await createMasterKeyFile(keyFile);
    gw = await startTestGateway({ users: { alice: 'alice-pw', carol: 'carol-pw' }, mounts: mounts(false), config: { keys: { mode: 'master', masterKeyFile: keyFile } } });
    expect(await put('/a.txt', 'a', 'alice')).toBe(201);
    const planted = await evil.plantKeyring('/homes/carol', { master: (await evil.publicKeysIn('/homes/alice')).master! });
    expect(await put('/secret.txt', 'carol', 'carol')).toBe(201);
    expect(evil.decrypt(await evil.storage.read('/homes/carol/secret.txt'), planted)).toBeUndefined();
  });

  it('a keyring of 40 000 keys is refused at once (DC_ERR_KEYRING_INVALID)', async () => {
    const evil = await setUp();
    gw = await startTestGateway({ users: { dave: 'dave-pw' }, mounts: mounts(false) });
    const davePub = Buffer.from((await gw.gateway.users.records.get('dave'))!.publicKey, 'base64');
    await evil.plantHugeKeyring('/homes/dave', { 'user:dave': davePub }, 40_000);
    const t0 = Date.now();
    const res = await gatewayRequest(gw, 'PUT', '/x.txt', { auth: gw.authHeader('dave'), body: 'x' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(res.status).toBe(500);
  });

  it('offline verify and recover straight from the share skip files under a planted key (exit 3); a lost store still recovers all with --recovery', async () => {
    const evil = await setUp();
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, mounts: mounts(false), config: { auth: { recheckSeconds: 0 } } });
    const files = { '/note.txt': Buffer.from('the real note'), '/big.bin': patternBytes(200_000, 5) };
    for (const [p, b] of Object.entries(files)) expect(await put(p, b, 'alice')).toBe(201);
    const config = await gw.configFile();
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], cliIO('rec-pw\nalice-pw\n').io, config)).toBe(0);
    expect(await runKey(['rotate', '/', '--user', 'alice', '--config', config], cliIO('').io, config)).toBe(0);
    expect(await put('/after-rotate.txt', 'newer', 'alice')).toBe(201);
    await gw.stop(); // and the store is lost: the share is all there is
    const from = `${apache.url}${base}/homes/alice/`;
    const flags = ['--backend-user', 'svc', '--backend-password-env', 'SVC_PW'];
    const env = { SVC_PW: SVC };

    const clean = cliIO('rec-pw\n', env);
    const out = join(tmp.path, `${base}-clean`);
    expect(await runRecover(['--from', from, '--out', out, '--recovery', ...flags], clean.io)).toBe(0);
    expect(clean.stdout()).not.toMatch(/UNAUTHENTICATED/);
    expect(await listFilesBelow(out)).toEqual(['/after-rotate.txt', '/big.bin', '/note.txt']);

    const planted = await evil.addPlantedKey('/homes/alice', { 'user:alice': (await evil.publicKeysIn('/homes/alice'))['user:alice']! });
    await evil.storage.write('/homes/alice/note.txt', evil.forgeFile(planted, Buffer.from('forged note')));
    const verify = cliIO('alice-pw\n', env);
    expect(await runVerify(['--from', from, '--user', 'alice', ...flags], verify.io, 'unused.yaml')).toBe(3);
    expect(verify.stdout()).toMatch(/^UNAUTHENTICATED \/note\.txt\t/m);
    const rec = cliIO('rec-pw\n', env);
    const out2 = join(tmp.path, `${base}-attacked`);
    expect(await runRecover(['--from', from, '--out', out2, '--recovery', ...flags], rec.io)).toBe(3);
    expect(await listFilesBelow(out2)).toEqual(['/after-rotate.txt', '/big.bin']);
    expect((await readFile(join(out2, 'big.bin'))).equals(files['/big.bin'])).toBe(true);
  });
});
