// The storage provider as attacker (issue 11) with Apache mod_dav as the backend: the
// attacker helper writes over WebDAV only (test/helpers/backend-attacker.ts). A planted home
// keyring creates no account; under plaintext: refuse every forged file is a 502 with its code
// for GET, HEAD, Range and COPY, and verify exits 3. Skips when apache2 is missing.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuthorization } from '../../src/backends/webdav-http.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { FILE_ATTACKS, forgeIdentity, forgeKeyring, webdavBackendFiles, type BackendFiles } from '../helpers/backend-attacker.js';
import { runDavcrypt } from '../helpers/cli.js';
import { startClientGateway, type ClientGateway } from '../helpers/clients.js';
import { expectedCode, runRefuseTable } from '../helpers/plaintext-attacks.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { join } from 'node:path';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] trust-apache: ${missing}`);

const SVC = 'svc-pw';

describe.skipIf(missing !== undefined)('hostile backend on Apache mod_dav', () => {
  let tmp: TempDir;
  let apache: ApacheServer;
  let c: ClientGateway;
  let files: BackendFiles;

  beforeAll(async () => {
    tmp = await makeTempDir('trust-apache');
    apache = await startApache({ root: join(tmp.path, 'share'), user: 'svc', password: SVC });
    const mk = await request(apache.url + 'homes/', { method: 'MKCOL', headers: { authorization: basicAuthorization('svc', SVC) } });
    await mk.body.dump();
    c = await startClientGateway({ users: { alice: 'alice-pw' }, backend: { webdavUrl: apache.url + 'homes/{user}/', username: 'svc', password: SVC } });
    files = webdavBackendFiles(apache.url, 'svc', SVC);
  });
  afterAll(async () => {
    await c?.close();
    await apache?.stop();
    await tmp?.cleanup();
  });

  it('a planted homes/mallory/.davcrypt/keyring.json creates no account (401)', async () => {
    const mallory = await forgeIdentity('user:mallory', 'attacker-pw');
    await files.put('homes/mallory/.davcrypt/keyring.json', forgeKeyring([mallory]).json);
    const auth = basicAuthorization('mallory', 'attacker-pw');
    expect((await c.req('PROPFIND', '/', { auth, headers: { depth: '0' } })).status).toBe(401);
    expect(await c.gw.gateway.users.records.get('mallory')).toBeUndefined();
  });

  it('plaintext: refuse: each forged file is 502 with its code (GET, HEAD, Range, COPY); verify exits 3', async () => {
    await runRefuseTable(c, files, '', 'homes/alice');
    const config = await c.gw.configFile();
    const verify = await runDavcrypt(['verify', '/', '--config', config, '--user', 'alice'], 'alice-pw\n');
    expect(verify.code).toBe(3);
    for (const [i, attack] of FILE_ATTACKS.entries()) {
      expect(verify.stdout, attack.name).toContain(`FAILED /attack-${i}.bin\t${expectedCode(attack.name)}\t`);
    }
  });
});
