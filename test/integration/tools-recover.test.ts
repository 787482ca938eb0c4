// recover and verify as real child processes (bin/davcrypt.js) on a copy of the local
// storage of a running test gateway whose files were written over HTTP: full recovery,
// wrong password, tampered and truncated files, salvage, verify in both forms.
import { cp, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { listFilesBelow, runDavcrypt } from '../helpers/cli.js';

const SEG = 65536;

export const davcrypt = (args: string[], stdin: string, env: NodeJS.ProcessEnv = {}) => runDavcrypt(args, stdin, { env });

const pattern = patternBytes;

const send = async (gw: TestGateway, method: string, path: string, body?: Buffer): Promise<number> =>
  (await gatewayRequest(gw, method, path, { auth: gw.authHeader('alice'), body })).status;

const files = listFilesBelow;

const content: Record<string, Buffer> = {
  '/a.txt': Buffer.from('hello from alice'),
  '/docs/big.bin': pattern(5 * SEG + 1000, 1),
  '/docs/other.bin': pattern(3 * SEG + 10, 2),
  '/docs/empty.txt': Buffer.alloc(0),
};

describe('davcrypt recover / verify on a gateway-written storage', () => {
  let gw: TestGateway;
  let tmp: TempDir;
  let copy: string;
  let configFile: string;

  beforeAll(async () => {
    tmp = await makeTempDir('tools-recover-it');
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    expect(await send(gw, 'MKCOL', '/docs/')).toBe(201);
    for (const [p, data] of Object.entries(content)) expect(await send(gw, 'PUT', p, data)).toBeLessThan(300);
    await writeFile(join(gw.storageRoot, 'alice', 'legacy.txt'), 'dropped in as plaintext');
    copy = join(tmp.path, 'copy');
    await cp(join(gw.storageRoot, 'alice'), copy, { recursive: true });
    // The same config the gateway runs with, as a file for the CLI (shares its sqlite store).
    configFile = await gw.configFile();
  });
  afterAll(async () => {
    await gw?.close();
    await tmp?.cleanup();
  });

  it('recovers every file of the copy with the user password (no gateway config needed)', async () => {
    const out = join(tmp.path, 'out-ok');
    const run = await davcrypt(['recover', '--from', copy, '--out', out, '--user', 'alice'], 'alice-pw\n');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/recover: 5 files: 4 decrypted, 1 copied as plaintext, 0 salvaged with holes, 0 failed/);
    expect(await files(out)).toEqual(['/a.txt', '/docs/big.bin', '/docs/empty.txt', '/docs/other.bin', '/legacy.txt']);
    for (const [p, data] of Object.entries(content)) expect((await readFile(join(out, p))).equals(data), p).toBe(true);
    expect(await readFile(join(out, 'legacy.txt'), 'utf8')).toBe('dropped in as plaintext');
  });

  it('refuses a wrong password with exit 1 and DC_ERR_WRONG_PASSWORD, writing nothing', async () => {
    const out = join(tmp.path, 'out-bad');
    const run = await davcrypt(['recover', '--from', copy, '--out', out, '--user', 'alice'], 'wrong\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: /);
    expect(await files(out).catch(() => [])).toEqual([]);
  });

  it('recover --recovery: after `recovery init`, a storage copy and the recovery password give every file back', async () => {
    const init = await davcrypt(['recovery', 'init', '--user', 'alice', '--config', configFile], 'rec-pw\nalice-pw\n');
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const copy2 = join(tmp.path, 'copy-after-recovery-init');
    await cp(join(gw.storageRoot, 'alice'), copy2, { recursive: true });
    const out = join(tmp.path, 'out-recovery');
    const run = await davcrypt(['recover', '--from', copy2, '--out', out, '--recovery'], 'rec-pw\n');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const [p, data] of Object.entries(content)) expect((await readFile(join(out, p))).equals(data), p).toBe(true);
    const wrong = await davcrypt(['recover', '--from', copy2, '--out', join(tmp.path, 'out-recovery-bad'), '--recovery'], 'alice-pw\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: /);
  });

  it('reports a tampered and a truncated file by path (exit 3) and recovers the rest', async () => {
    const bad = join(tmp.path, 'bad');
    await cp(copy, bad, { recursive: true });
    const big = join(bad, 'docs', 'big.bin');
    const raw = await readFile(big);
    raw[65 + 2 * (SEG + 32) + 7] ^= 0x10;
    await writeFile(big, raw);
    await truncate(join(bad, 'docs', 'other.bin'), 65 + 2 * (SEG + 32));
    const out = join(tmp.path, 'out-bad-files');
    const run = await davcrypt(['recover', '--from', bad, '--out', out, '--user', 'alice'], 'alice-pw\n');
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/^FAILED \/docs\/big\.bin\tDC_ERR_TAMPERED\t/m);
    expect(run.stdout).toMatch(/^FAILED \/docs\/other\.bin\tDC_ERR_TRUNCATED\t/m);
    expect(await files(out)).toEqual(['/a.txt', '/docs/empty.txt', '/legacy.txt']);

    const salvaged = join(tmp.path, 'out-salvage');
    const run2 = await davcrypt(['recover', '--from', bad, '--out', salvaged, '--user', 'alice', '--skip-bad-segments'], 'alice-pw\n');
    expect(run2.code).toBe(3);
    expect(run2.stdout).toContain(`DAMAGED /docs/big.bin\tbytes ${2 * SEG}-${3 * SEG - 1} (segment 2): DC_ERR_TAMPERED`);
    expect(run2.stdout).toContain(`DAMAGED /docs/other.bin\tbytes ${2 * SEG}-(end unknown) (segment 2): DC_ERR_TRUNCATED`);
    const got = await readFile(join(salvaged, 'docs', 'big.bin'));
    const want = content['/docs/big.bin']!;
    expect(got.length).toBe(want.length);
    expect(got.subarray(0, 2 * SEG).equals(want.subarray(0, 2 * SEG))).toBe(true);
    expect(got.subarray(3 * SEG).equals(want.subarray(3 * SEG))).toBe(true);
    expect(got.subarray(2 * SEG, 3 * SEG).equals(Buffer.alloc(SEG))).toBe(true);
    expect((await readFile(join(salvaged, 'docs', 'other.bin'))).equals(content['/docs/other.bin']!.subarray(0, 2 * SEG))).toBe(true);

    const verify = await davcrypt(['verify', '--from', bad, '--user', 'alice'], 'alice-pw\n');
    expect(verify.code).toBe(3);
    expect(verify.stdout.split('\n').filter((l) => l.startsWith('FAILED')).map((l) => l.split('\t').slice(0, 2).join(' ')).sort()).toEqual([
      'FAILED /docs/big.bin DC_ERR_TAMPERED',
      'FAILED /docs/other.bin DC_ERR_TRUNCATED',
      'FAILED /legacy.txt DC_ERR_NOT_ENCRYPTED', // plaintext: refuse is the default
    ]);
  });

  it('verify passes the clean copy offline, and the live mount through the config', async () => {
    const refused = await davcrypt(['verify', '--from', copy, '--user', 'alice'], 'alice-pw\n');
    expect(refused.code).toBe(3);
    expect(refused.stdout).toMatch(/^FAILED \/legacy\.txt\tDC_ERR_NOT_ENCRYPTED\t/m);
    expect(refused.stdout).toMatch(/verify: 5 files: 4 verified, 0 not encrypted, 1 failed/);
    const offline = await davcrypt(['verify', '--from', copy, '--user', 'alice', '--plaintext', 'read'], 'alice-pw\n');
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/verify: 5 files: 4 verified, 1 not encrypted, 0 failed/);
    const live = await davcrypt(['verify', '/', '--config', configFile, '--user', 'alice', '--plaintext', 'read'], 'alice-pw\n');
    expect(live.stderr).toBe('');
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(/verify: 5 files: 4 verified, 1 not encrypted, 0 failed/);
    const wrong = await davcrypt(['verify', '--config', configFile, '--user', 'alice'], 'nope\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/DC_ERR_WRONG_PASSWORD/);
  });
});
