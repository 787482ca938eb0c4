// Operations against Apache mod_dav as a per-user WebDAV backend (127.0.0.1): the
// readiness probe looks at the folder above {user} (it exists before anyone logged
// in), /readyz answers 503 naming the mount once Apache is gone, and check-config
// passes the same config and fails a wrong backend password. Skips without apache2.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheckConfig } from '../../src/cli/check-config.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { inProcessCliIO } from '../helpers/cli.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { readyz, waitForReadyz } from '../helpers/ops.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] ops-apache: ${missing}`);

describe.skipIf(missing !== undefined)('ops with an Apache per-user backend', () => {
  let tmp: TempDir;
  let apache: ApacheServer | undefined;
  let gw: TestGateway;
  let homesUrl: string;

  beforeAll(async () => {
    tmp = await makeTempDir('ops-apache');
    const share = join(tmp.path, 'share');
    await mkdir(join(share, 'files'), { recursive: true });
    apache = await startApache({ root: share, user: 'svc', password: 'svc-pw', prefix: '/dav/' });
    homesUrl = `${apache.url}files/{user}/`;
    gw = await startTestGateway({
      users: {},
      mounts: [{ path: '/', encrypt: true, backend: { type: 'webdav', url: homesUrl, username: 'svc', password: 'svc-pw' } }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await apache?.stop();
    await tmp?.cleanup();
  });

  it('check-config passes, and names the mount when the backend password is wrong', async () => {
    const write = async (name: string, password: string) => {
      const file = join(tmp.path, name);
      await writeFile(file, [
        `dataDir: ${join(tmp.path, 'cc-data')}`,
        'mounts:',
        '  - path: /',
        `    backend: { type: webdav, url: '${homesUrl}', username: svc, password: ${password} }`,
        '',
      ].join('\n'));
      return file;
    };
    const good = inProcessCliIO('');
    expect(await runCheckConfig(['--config', await write('good.yaml', 'svc-pw')], good.io, 'unused')).toBe(0);
    expect(good.stdout()).toMatch(/^ok {4}backend \/ \d+ ms$/m);
    const bad = inProcessCliIO('');
    expect(await runCheckConfig(['--config', await write('bad.yaml', 'nope')], bad.io, 'unused')).toBe(1);
    expect(bad.stdout()).toMatch(/^FAIL {2}backend \/: DC_ERR_BACKEND_UNAUTHORIZED/m);
    expect(bad.stdout()).not.toContain('nope');
  });

  it('/readyz is 200 before any login (the folder above {user} is probed) and 503 naming "backend /" once Apache stops', async () => {
    expect((await readyz(gw.url)).body).toEqual({ status: 'ok', checks: { store: 'ok', 'backend /': 'ok' } });
    await apache!.stop();
    apache = undefined;
    const down = await waitForReadyz(gw.url, 503);
    expect(down.body.failing).toEqual(['backend /']);
    expect(down.body.checks['backend /']).toMatch(/^failed: (ECONNREFUSED|DC_ERR_BACKEND_UNAVAILABLE|timeout)/);
  });
});
