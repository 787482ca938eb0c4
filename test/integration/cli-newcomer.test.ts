// What a new user trips over on the command line (issue "newcomer"): every command says which
// config, store and storage it uses; `davcrypt user` alone prints usage; no undocumented short
// options; the password policy; a human message for a wrong current password; the stale
// first-start password file; recover pointed at a subfolder or at a folder with no keyring.
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { resolveConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging.js';
import { runDavcrypt } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const CONFIG = ['dataDir: ./data', 'keys:', '  argon2: { m: 1024, t: 1, p: 1 }', 'mounts:', '  - path: /', '    backend: { type: local, root: ./storage/{user} }', ''];

describe('davcrypt CLI for a newcomer', () => {
  let tmp: TempDir;
  let config: string;
  const davcrypt = (args: string[], stdin = '', env: NodeJS.ProcessEnv = {}) => runDavcrypt(args, stdin, { cwd: tmp.path, env });

  beforeAll(async () => {
    tmp = await makeTempDir('cli-newcomer');
    config = join(tmp.path, 'davcrypt.yaml');
    await writeFile(config, CONFIG.join('\n'));
  });
  afterAll(async () => tmp.cleanup());

  it('every config command names its config, store and data folder; only serve and user add make a new store', async () => {
    const store = join(tmp.path, 'data/davcrypt.sqlite');
    const list = await davcrypt(['user', 'list', '--config', config]);
    expect(list.code).toBe(1);
    expect(list.notices).toEqual([
      `davcrypt: using config ${config}, store sqlite://${store} (none there yet: a new, empty store), data ${join(tmp.path, 'data')}`,
    ]);
    expect(list.stderr).toMatch(/^davcrypt: DC_ERR_CONFIG: no store at .*davcrypt\.sqlite: run the command in the folder the gateway runs in/);
    expect(existsSync(store)).toBe(false);
    const add = await davcrypt(['user', 'add', 'zoe', '--config', config], 'zoe-password\n');
    expect(add.code, add.stderr).toBe(0);
    expect(add.notices[0]).toContain('(none there yet: a new, empty store)');
    const again = await davcrypt(['user', 'list', '--config', config]);
    expect(again.code).toBe(0);
    expect(again.notices[0]).not.toContain('none there yet');
    // Without the gateway's DAVCRYPT_DATA_DIR a command names the other store and refuses it.
    const other = await davcrypt(['user', 'list', '--config', config], '', { DAVCRYPT_DATA_DIR: join(tmp.path, 'elsewhere') });
    expect(other.code).toBe(1);
    expect(other.notices[0]).toContain(`store sqlite://${join(tmp.path, 'elsewhere/davcrypt.sqlite')}`);
    expect(existsSync(join(tmp.path, 'elsewhere'))).toBe(false);
  });

  it('`davcrypt user` (and recovery, mount, key, master) alone print usage and exit 2; no -c anywhere', async () => {
    for (const command of ['user', 'recovery', 'mount', 'key', 'master']) {
      const r = await davcrypt([command]);
      expect(r.code, command).toBe(2);
      expect(r.stdout, command).toMatch(new RegExp(`^usage: davcrypt ${command} `));
      expect(r.stderr, command).toBe('');
    }
    const missing = await davcrypt(['user', 'list', '--config']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toMatch(/-c\b/);
    expect((await davcrypt(['user', 'list', '-c', config])).stderr).toMatch(/DC_ERR_USAGE: Unknown option '-c'/);
  });

  it('new passwords need auth.minPasswordLength characters (default 8); the current one is checked with a plain message', async () => {
    const short = await davcrypt(['user', 'add', 'alice', '--config', config], '1234567\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: the password is too short: at least 8 characters \(auth\.minPasswordLength/);
    expect((await davcrypt(['user', 'add', 'alice', '--config', config], '12345678\n')).code).toBe(0);
    const shortNew = await davcrypt(['user', 'passwd', 'alice', '--config', config], '12345678\nabc\n');
    expect(shortNew.stderr).toMatch(/DC_ERR_USAGE: the new password is too short/);
    const wrong = await davcrypt(['user', 'passwd', 'alice', '--config', config], 'not-hers-at-all\nlong enough pw\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('davcrypt: DC_ERR_WRONG_PASSWORD: the current password of alice is wrong; nothing was changed\n');

    const relaxed = join(tmp.path, 'relaxed.yaml');
    await writeFile(relaxed, [...CONFIG, 'auth: { minPasswordLength: 3 }', ''].join('\n'));
    expect((await davcrypt(['user', 'add', 'bob', '--config', relaxed], 'abc\n')).code).toBe(0);
  });

  it('a short DAVCRYPT_ADMIN_PASSWORD stops the first start; user passwd admin removes the stale first-start password file', async () => {
    const dir = join(tmp.path, 'admin');
    const cfg = resolveConfig({ dataDir: './data', keys: { argon2: { m: 1024, t: 1, p: 1 } }, server: { port: 0 }, mounts: [{ path: '/', backend: { type: 'local', root: './storage/{user}' } }] }, { cwd: dir, env: {} });
    const logger = createLogger({ silent: true });
    await expect(startGateway(cfg, { logger, env: { DAVCRYPT_ADMIN_PASSWORD: 'short' } })).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
    let printed = '';
    const gw = await startGateway(cfg, { logger, env: {}, print: (line) => (printed = line) });
    await gw.close();
    const password = /password (\S+)/.exec(printed)![1]!;
    const file = join(dir, 'data/initial-admin-password');
    expect(existsSync(file)).toBe(true);
    await writeFile(join(dir, 'davcrypt.yaml'), CONFIG.join('\n'));
    const r = await runDavcrypt(['user', 'passwd', 'admin', '--config', join(dir, 'davcrypt.yaml')], `${password}\nmy own admin pw\n`, { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed ${file}`);
    expect(existsSync(file)).toBe(false);
  });
});

describe('davcrypt recover pointed at the wrong folder', () => {
  let gw: TestGateway;
  let tmp: TempDir;

  beforeAll(async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    tmp = await makeTempDir('recover-where');
    expect((await gatewayRequest(gw, 'MKCOL', '/docs/', { auth: gw.authHeader('alice') })).status).toBe(201);
    expect((await gatewayRequest(gw, 'PUT', '/docs/a.bin', { auth: gw.authHeader('alice'), body: patternBytes(70_000) })).status).toBe(201);
  });
  afterAll(async () => {
    await gw.close();
    await tmp.cleanup();
  });

  it('a subfolder of a mount: refused (exit 1) naming the mount root to use; nothing decrypted as plaintext', async () => {
    const home = join(gw.storageRoot, 'alice');
    const r = await runDavcrypt(['recover', '--from', join(home, 'docs'), '--out', join(tmp.path, 'sub'), '--user', 'alice'], 'alice-pw\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^davcrypt: DC_ERR_NOT_FOUND: no \.davcrypt\/keyring\.json in .* or below: this is not the root of an encrypted mount/);
    expect(r.stderr).toContain(`use --from ${home}`);
    expect(r.notices).toEqual([`davcrypt: reading storage ${join(home, 'docs')} (no config or store needed)`]);
    expect(existsSync(join(tmp.path, 'sub', 'a.bin'))).toBe(false);
  });

  it('a wrong password at the mount root says so in words', async () => {
    const r = await runDavcrypt(['recover', '--from', join(gw.storageRoot, 'alice'), '--out', join(tmp.path, 'wrong'), '--user', 'alice'], 'not-hers\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: .*wrong password for user:alice/);
  });

  it('a folder with no keyring at all is an error even with a wrong password (was: copied as plaintext, exit 0)', async () => {
    const plain = join(tmp.path, 'plain-folder');
    await mkdir(plain);
    await writeFile(join(plain, 'note.txt'), 'hello');
    for (const password of ['alice-pw', 'wrong']) {
      const r = await runDavcrypt(['recover', '--from', plain, '--out', join(tmp.path, 'plain-out'), '--user', 'alice'], `${password}\n`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/DC_ERR_NOT_FOUND: no \.davcrypt\/keyring\.json/);
    }
    const verify = await runDavcrypt(['verify', '--from', plain, '--user', 'alice'], 'wrong\n');
    expect(verify.code).toBe(1);
  });

  it('files that fail at once leave no temp file in --out', async () => {
    const home = join(gw.storageRoot, 'alice');
    // Right magic, broken header: each fails as soon as its first bytes are read.
    for (let i = 0; i < 40; i++) await writeFile(join(home, `bad-${i}.bin`), Buffer.concat([Buffer.from('DAVCRYPT'), Buffer.alloc(3)]));
    const out = join(tmp.path, 'out');
    const r = await runDavcrypt(['recover', '--from', home, '--out', out, '--user', 'alice'], 'alice-pw\n');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/recover: 41 files: 1 decrypted, 0 copied as plaintext, 0 salvaged with holes, 40 failed/);
    expect((await readdir(out)).filter((n) => n.startsWith('.davcrypt-recover-'))).toEqual([]);
  });
});
