// recover / verify --master-key as real child processes (bin/davcrypt.js) on a copy of the
// local storage of a master-mode test gateway (keys.mode: master, key file made by
// `davcrypt master init`) whose files were written over HTTP: every byte comes back with the
// key file alone (no password); a wrong, missing or too open key file fails cleanly.
import { chmod, cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { listFilesBelow, runDavcrypt } from '../helpers/cli.js';

const davcrypt = (args: string[], stdin = '') => runDavcrypt(args, stdin);

const pattern = patternBytes;

const send = async (gw: TestGateway, method: string, path: string, body?: Buffer): Promise<number> =>
  (await gatewayRequest(gw, method, path, { auth: gw.authHeader('alice'), body })).status;

const files = listFilesBelow;

const content: Record<string, Buffer> = {
  '/a.txt': Buffer.from('hello from alice, master mode'),
  '/docs/big.bin': pattern(4 * 65536 + 123, 1),
  '/docs/empty.txt': Buffer.alloc(0),
};

describe('davcrypt recover / verify --master-key on a master-mode storage copy', () => {
  let gw: TestGateway;
  let tmp: TempDir;
  let keyFile: string;
  let copy: string;

  beforeAll(async () => {
    tmp = await makeTempDir('tools-recover-master');
    keyFile = join(tmp.path, 'keys', 'master.key');
    const initConfig = join(tmp.path, 'init.json');
    await writeFile(
      initConfig,
      JSON.stringify({
        dataDir: tmp.path,
        keys: { mode: 'master', masterKeyFile: keyFile },
        mounts: [{ path: '/', backend: { type: 'local', root: join(tmp.path, 'unused', '{user}') } }],
      }),
    );
    const init = await davcrypt(['master', 'init', '--config', initConfig]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    gw = await startTestGateway({ users: { alice: 'alice-pw' }, config: { keys: { mode: 'master', masterKeyFile: keyFile } } });
    expect(await send(gw, 'MKCOL', '/docs/')).toBe(201);
    for (const [p, data] of Object.entries(content)) expect(await send(gw, 'PUT', p, data)).toBeLessThan(300);
    await writeFile(join(gw.storageRoot, 'alice', 'legacy.txt'), 'plaintext dropped in');
    copy = join(tmp.path, 'copy');
    await cp(join(gw.storageRoot, 'alice'), copy, { recursive: true });
    const ring = JSON.parse(await readFile(join(copy, '.davcrypt', 'keyring.json'), 'utf8'));
    expect(ring.identities.master.envelope).toBeUndefined(); // only its public key is in the keyring
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await tmp?.cleanup();
  });

  it('recovers every file with the key file alone (nothing read from stdin)', async () => {
    const out = join(tmp.path, 'out-ok');
    const run = await davcrypt(['recover', '--from', copy, '--out', out, '--master-key', keyFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/recover: 4 files: 3 decrypted, 1 copied as plaintext, 0 salvaged with holes, 0 failed/);
    expect(await files(out)).toEqual(['/a.txt', '/docs/big.bin', '/docs/empty.txt', '/legacy.txt']);
    for (const [p, data] of Object.entries(content)) expect((await readFile(join(out, p))).equals(data), p).toBe(true);
    expect(await readFile(join(out, 'legacy.txt'), 'utf8')).toBe('plaintext dropped in');
  });

  it('verify --from --master-key checks every file', async () => {
    const run = await davcrypt(['verify', '--from', copy, '--master-key', keyFile, '--plaintext', 'read']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/verify: 4 files: 3 verified, 1 not encrypted, 0 failed/);
  });

  it('refuses another master key file with DC_ERR_NO_ACCESS, writing nothing', async () => {
    const other = join(tmp.path, 'keys', 'other.key');
    await createMasterKeyFile(other);
    const out = join(tmp.path, 'out-other');
    const run = await davcrypt(['recover', '--from', copy, '--out', out, '--master-key', other]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^davcrypt: DC_ERR_NO_ACCESS: .*master key file/);
    expect(await files(out).catch(() => [])).toEqual([]);
    const verify = await davcrypt(['verify', '--from', copy, '--master-key', other]);
    expect(verify.code).not.toBe(0);
    expect(verify.stdout + verify.stderr).toMatch(/DC_ERR_NO_ACCESS/);
  });

  it('a missing, malformed or group-readable key file is DC_ERR_CONFIG (exit 1)', async () => {
    const missing = await davcrypt(['recover', '--from', copy, '--out', join(tmp.path, 'out-missing'), '--master-key', join(tmp.path, 'none.key')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^davcrypt: DC_ERR_CONFIG: cannot read master key file/);

    const bad = join(tmp.path, 'keys', 'bad.key');
    await writeFile(bad, 'not a key\n', { mode: 0o600 });
    const malformed = await davcrypt(['recover', '--from', copy, '--out', join(tmp.path, 'out-bad'), '--master-key', bad]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^davcrypt: DC_ERR_CONFIG: .*is not a davcrypt-master-key\/1 file/);

    const open = join(tmp.path, 'keys', 'open.key');
    await cp(keyFile, open);
    await chmod(open, 0o644);
    const tooOpen = await davcrypt(['recover', '--from', copy, '--out', join(tmp.path, 'out-open'), '--master-key', open]);
    expect(tooOpen.code).toBe(1);
    expect(tooOpen.stderr).toMatch(/^davcrypt: DC_ERR_CONFIG: .*readable by others/);
  });

  it('takes exactly one of --user, --recovery, --master-key; --help names --master-key', async () => {
    const both = await davcrypt(['recover', '--from', copy, '--out', join(tmp.path, 'out-2'), '--user', 'alice', '--master-key', keyFile]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --user NAME, --recovery or --master-key FILE/);
    const configForm = await davcrypt(['verify', '/', '--master-key', keyFile]);
    expect(configForm.code).toBe(2);
    expect(configForm.stderr).toMatch(/--master-key applies only with --from/);
    for (const cmd of ['recover', 'verify']) expect((await davcrypt([cmd, '--help'])).stdout).toMatch(/--master-key FILE/);
  });
});
