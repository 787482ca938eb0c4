// Key custody with Apache mod_dav as the gateway's backend (127.0.0.1): per-user
// home folders are created on first use (MKCOL), the key store survives the loss
// of the gateway's whole data folder (davcrypt restore finds her home on the share; same
// password, every file reads), and after recovery init a lost store still allows recovery
// restore + reset-password and offline recover --recovery straight from the WebDAV share.
// Skips when apache2 is missing.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRecover } from '../../src/cli/recover.js';
import { runRecovery } from '../../src/cli/recovery.js';
import { runRestore } from '../../src/cli/restore.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { inProcessCliIO } from '../helpers/cli.js';
import { basicAuthorization } from '../../src/backends/webdav-http.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] keys-apache: ${missing}`);

const SVC = 'svc-pw';

const cliIO = inProcessCliIO;

const basic = basicAuthorization;

const pattern = patternBytes;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const FILES: Record<string, Buffer> = { '/note.txt': Buffer.from('on apache'), '/big.bin': pattern(250_000, 4) };

describe.skipIf(missing !== undefined)('key custody over Apache mod_dav', () => {
  let tmp: TempDir;
  let apache: ApacheServer;
  let gw: TestGateway;
  let shareRoot: string;

  const put = async (path: string, body: Buffer, auth: string) => {
    const res = await request(new URL(path, gw.url), { method: 'PUT', body, headers: { authorization: auth, 'content-length': String(body.length) } });
    await res.body.dump();
    return res.statusCode;
  };
  const get = async (path: string, auth: string) => {
    const res = await request(new URL(path, gw.url), { method: 'GET', headers: { authorization: auth } });
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  };

  beforeAll(async () => {
    tmp = await makeTempDir('keys-apache');
    shareRoot = join(tmp.path, 'share');
    apache = await startApache({ root: shareRoot, user: 'svc', password: SVC });
    // The operator's base folder exists; the per-user folders below it do not.
    const mk = await request(apache.url + 'homes/', { method: 'MKCOL', headers: { authorization: basic('svc', SVC) } });
    await mk.body.dump();
    expect(mk.statusCode).toBe(201);
    // {user} in the URL: the helper does not pre-create homes; the gateway must MKCOL them.
    gw = await startTestGateway({
      users: { alice: 'alice-pw' },
      backend: { webdavUrl: apache.url + 'homes/{user}/', username: 'svc', password: SVC },
      config: { auth: { recheckSeconds: 0 } },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await apache?.stop();
    await tmp?.cleanup();
  });

  it('creates the per-user home folder on first use', async () => {
    for (const [p, b] of Object.entries(FILES)) expect(await put(p, b, gw.authHeader('alice'))).toBeLessThan(300);
    const raw = await readFile(join(shareRoot, 'homes', 'alice', 'note.txt'));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect(JSON.parse(await readFile(join(shareRoot, 'homes', 'alice', '.davcrypt', 'keyring.json'), 'utf8')).format).toBe('davcrypt-keyring/2');
  });

  it('survives losing the whole data folder: restore, then same password, every file reads', async () => {
    await gw.restart({ wipeStore: true });
    expect(await gw.gateway.users.records.get('alice')).toBeUndefined();
    expect((await get('/note.txt', gw.authHeader('alice'))).status).toBe(401); // serving creates no account
    const config = await gw.configFile();
    const restore = cliIO('');
    expect(await runRestore(['--yes', '--config', config], restore.io, config)).toBe(0);
    expect(restore.stdout()).toMatch(/^ADOPT alice\tSHA-256 [0-9a-f ]{79}\t\(home:alice\)$/m);
    expect((await get('/note.txt', basic('alice', 'nope'))).status).toBe(401);
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(p, gw.authHeader('alice'))).body), p).toBe(sha(b));
  });

  it('after recovery init and another lost store: reset-password from the backend copy, offline recover --recovery from the URL', async () => {
    const config = await gw.configFile();
    const init = cliIO('rec-pw\nalice-pw\n');
    expect(await runRecovery(['init', '--user', 'alice', '--config', config], init.io, config)).toBe(0);
    expect(init.stdout()).toMatch(/^COVERED\thome:alice\t1\/1/m);
    await gw.restart({ wipeStore: true });
    // The recovery identity comes back only through recovery restore (the recovery password proves it).
    const restore = cliIO('rec-pw\n');
    expect(await runRecovery(['restore', '--user', 'alice', '--config', config], restore.io, config)).toBe(0);
    expect(restore.stdout()).toContain(/recovery identity fingerprint: ([0-9a-f]{4}(?: [0-9a-f]{4}){15})/.exec(init.stdout())![1]!);
    const reset = cliIO('rec-pw\nalice-new\n');
    expect(await runRecovery(['reset-password', 'alice', '--config', config], reset.io, config)).toBe(0);
    expect((await get('/note.txt', basic('alice', 'alice-pw'))).status).toBe(401);
    for (const [p, b] of Object.entries(FILES)) expect(sha((await get(p, basic('alice', 'alice-new'))).body), p).toBe(sha(b));

    const out = join(tmp.path, 'out');
    const rec = cliIO('rec-pw\n', { SVC_PW: SVC });
    const code = await runRecover(
      ['--from', apache.url + 'homes/alice/', '--out', out, '--recovery', '--backend-user', 'svc', '--backend-password-env', 'SVC_PW'],
      rec.io,
    );
    expect(code).toBe(0);
    for (const [p, b] of Object.entries(FILES)) expect(sha(await readFile(join(out, p))), p).toBe(sha(b));
  });
});
