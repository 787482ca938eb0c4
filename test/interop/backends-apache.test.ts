// Runs the backend conformance suite over the WebDAV backend against a real Apache
// mod_dav (dav_fs) on 127.0.0.1, at the root and under a Nextcloud-like base path,
// plus Apache-specific checks (Basic auth failures). Skips when apache2 is missing.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebdavBackend, createWebdavBackend } from '../../src/backends/webdav.js';
import { backendConformance } from '../conformance/backend.js';
import { bodyOf, expectCode } from '../conformance/helpers.js';
import { apacheAvailable, startApache } from '../helpers/apache.js';
import { makeTempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] backends-apache: ${missing}`);
const PASSWORD = 'p+ss:w/rd \u00e9';

describe.skipIf(missing !== undefined)('webdav backend against Apache mod_dav', () => {
  backendConformance('webdav → apache', async () => {
    const tmp = await makeTempDir('apache-conf');
    const root = join(tmp.path, 'share');
    const server = await startApache({ root, user: 'alice', password: PASSWORD });
    const backend = await createWebdavBackend({ url: server.url, username: 'alice', password: PASSWORD });
    return { backend, rawRoot: root, exactSizes: true, cleanup: async () => { await server.stop(); await tmp.cleanup(); } };
  });

  backendConformance('webdav → apache under /remote.php/dav/files/alice/', async () => {
    const tmp = await makeTempDir('apache-prefix');
    const root = join(tmp.path, 'share');
    const server = await startApache({ root, user: 'alice', password: PASSWORD, prefix: '/remote.php/dav/files/al ice/' });
    const backend = await createWebdavBackend({ url: server.url, username: 'alice', password: PASSWORD });
    return { backend, rawRoot: root, exactSizes: true, cleanup: async () => { await server.stop(); await tmp.cleanup(); } };
  });

  it('maps wrong credentials to DC_ERR_BACKEND_UNAUTHORIZED without leaking them', async () => {
    const tmp = await makeTempDir('apache-auth');
    const server = await startApache({ root: join(tmp.path, 'share'), user: 'alice', password: PASSWORD });
    try {
      const bad = new WebdavBackend({ url: server.url, username: 'alice', password: 'wrong-secret' });
      let caught: unknown;
      try { await bad.stat('/'); } catch (err) { caught = err; }
      await expectCode(Promise.reject(caught), 'DC_ERR_BACKEND_UNAUTHORIZED');
      expect(String((caught as Error).message)).not.toContain('wrong-secret');
      expect(String((caught as Error).message)).toContain(`webdav:${server.url}`);
      await expectCode(bad.write('/x', bodyOf('x'), { size: 1 }), 'DC_ERR_BACKEND_UNAUTHORIZED');
      await bad.close();
      const withUrlCreds = new WebdavBackend({ url: server.url.replace('http://', `http://alice:${encodeURIComponent(PASSWORD)}@`) });
      expect(withUrlCreds.name).toBe(`webdav:${server.url}`);
      expect((await withUrlCreds.stat('/')).type).toBe('directory');
      await withUrlCreds.close();
    } finally {
      await server.stop();
      await tmp.cleanup();
    }
  });
});
