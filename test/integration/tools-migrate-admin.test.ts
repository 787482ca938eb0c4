// encrypt-all / decrypt-all run by an admin without the users' passwords: --recovery (the
// recovery password) and --master-key FILE (master-key mode), against a running gateway's
// storage; --user OWNER only names whose home. A home with no keyring yet gets its first key,
// wrapped to its owner, so she reads her files with her own password afterwards.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { runDavcrypt } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

async function drop(home: string, files: Record<string, Buffer>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    await mkdir(home, { recursive: true });
    await writeFile(join(home, name), data);
  }
}
const magic = async (path: string) => (await readFile(path)).subarray(0, 8).toString('latin1');

describe('encrypt-all / decrypt-all --recovery', () => {
  let gw: TestGateway;
  let config: string;
  beforeAll(async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', carol: 'carol-pw' } });
    config = await gw.configFile();
    expect((await gatewayRequest(gw, 'GET', '/', { auth: gw.authHeader('alice') })).status).toBe(200); // alice has a key now
    const init = await runDavcrypt(['recovery', 'init', '--config', config, '--user', 'alice'], 'recovery-pw\nalice-pw\n');
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => gw.close());

  it("converts alice's home and creates carol's first key with the recovery password alone", async () => {
    const files = { 'a.txt': Buffer.from('plain before'), 'b.bin': patternBytes(100_000, 3) };
    await drop(join(gw.storageRoot, 'alice'), files);
    await drop(join(gw.storageRoot, 'carol'), files);
    for (const user of ['alice', 'carol']) {
      const r = await runDavcrypt(['encrypt-all', '/', '--config', config, '--user', user, '--recovery'], 'recovery-pw\n');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/encrypt-all: 2 files: 2 converted/);
      for (const [name, data] of Object.entries(files)) {
        expect(await magic(join(gw.storageRoot, user, name))).toBe('DAVCRYPT');
        const got = await gatewayRequest(gw, 'GET', `/${name}`, { auth: gw.authHeader(user) });
        expect(got.status, `${user} ${name}`).toBe(200);
        expect(got.body.equals(data)).toBe(true);
      }
    }
    const back = await runDavcrypt(['decrypt-all', '/', '--config', config, '--user', 'carol', '--recovery'], 'recovery-pw\n');
    expect(back.code, back.stderr).toBe(0);
    expect((await readFile(join(gw.storageRoot, 'carol', 'a.txt'))).toString()).toBe('plain before');
  });

  it('a wrong recovery password changes nothing; --recovery with --master-key is a usage error', async () => {
    const bad = await runDavcrypt(['encrypt-all', '/', '--config', config, '--user', 'alice', '--recovery'], 'nope\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: /);
    const both = await runDavcrypt(['encrypt-all', '/', '--config', config, '--recovery', '--master-key', 'x'], '');
    expect(both.code).toBe(2);
  });
});

describe('encrypt-all --master-key', () => {
  let gw: TestGateway;
  let tmp: TempDir;
  let keyFile: string;
  beforeAll(async () => {
    tmp = await makeTempDir('migrate-master');
    keyFile = join(tmp.path, 'master.key');
    await createMasterKeyFile(keyFile);
    gw = await startTestGateway({ users: { dave: 'dave-pw' }, config: { keys: { mode: 'master', masterKeyFile: keyFile } } });
  });
  afterAll(async () => {
    await gw.close();
    await tmp.cleanup();
  });

  it("encrypts a home that never had a key with the key file alone (nothing on stdin); its owner reads it", async () => {
    await drop(join(gw.storageRoot, 'dave'), { 'm.txt': Buffer.from('master converts me') });
    const r = await runDavcrypt(['encrypt-all', '/', '--config', await gw.configFile(), '--user', 'dave', '--master-key', keyFile], '');
    expect(r.code, r.stderr).toBe(0);
    expect(await magic(join(gw.storageRoot, 'dave', 'm.txt'))).toBe('DAVCRYPT');
    const got = await gatewayRequest(gw, 'GET', '/m.txt', { auth: gw.authHeader('dave') });
    expect(got.body.toString()).toBe('master converts me');
  });
});
