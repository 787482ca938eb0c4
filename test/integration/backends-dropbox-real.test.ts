// The backend conformance suite against the real Dropbox, only when DAVCRYPT_TEST_DROPBOX_TOKEN
// is set (an access token; with DAVCRYPT_TEST_DROPBOX_APP_KEY also set, a refresh token). It
// works in a fresh folder /davcrypt-test-<random> of that account and deletes it afterwards.
// Without the variable it is skipped with a printed reason and contacts no network.
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { RefreshingDropboxToken, StaticDropboxToken } from '../../src/backends/dropbox-auth.js';
import { DropboxBackend, createDropboxBackend } from '../../src/backends/dropbox.js';
import { backendConformance } from '../conformance/backend.js';

const token = process.env.DAVCRYPT_TEST_DROPBOX_TOKEN;
const appKey = process.env.DAVCRYPT_TEST_DROPBOX_APP_KEY;

if (!token) {
  console.warn('skipping the conformance suite against real Dropbox: DAVCRYPT_TEST_DROPBOX_TOKEN is not set');
  describe.skip('backend conformance: dropbox (real)', () => {
    it('needs DAVCRYPT_TEST_DROPBOX_TOKEN', () => undefined);
  });
} else {
  backendConformance('dropbox (real)', async () => {
    const tokens = appKey ? new RefreshingDropboxToken({ appKey, refreshToken: token }) : new StaticDropboxToken(token);
    const root = `/davcrypt-test-${randomBytes(6).toString('hex')}`;
    const backend = await createDropboxBackend({ root, api: { tokens }, createRoot: true });
    return {
      backend,
      exactSizes: true,
      async cleanup() {
        const sweeper = new DropboxBackend({ root: '/', api: { tokens } });
        await sweeper.delete(root).catch(() => undefined);
        await sweeper.close();
      },
    };
  });
}
