// Runs the backend conformance suite over the WebDAV backend against a real
// `rclone serve webdav` (local folder, --user/--pass) on 127.0.0.1.
// Skips with a printed reason when rclone is missing.
import { join } from 'node:path';
import { describe } from 'vitest';
import { createWebdavBackend } from '../../src/backends/webdav.js';
import { backendConformance } from '../conformance/backend.js';
import { rcloneAvailable, startRcloneServe } from '../helpers/rclone.js';
import { makeTempDir } from '../helpers/tmp.js';

const missing = rcloneAvailable();
if (missing) console.warn(`[skip] backends-rclone: ${missing}`);

describe.skipIf(missing !== undefined)('webdav backend against rclone serve webdav', () => {
  backendConformance('webdav → rclone', async () => {
    const tmp = await makeTempDir('rclone-conf');
    const root = join(tmp.path, 'share');
    const server = await startRcloneServe({ root, user: 'bob', password: 'rclone secret' });
    // rclone truncates the target as soon as a PUT starts: upload to a temp name and MOVE it into place.
    const backend = await createWebdavBackend({ url: server.url, username: 'bob', password: 'rclone secret', uploadViaTemp: true });
    return { backend, rawRoot: root, exactSizes: true, cleanup: async () => { await server.stop(); await tmp.cleanup(); } };
  });
});
