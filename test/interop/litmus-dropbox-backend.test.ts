// litmus (all five suites, one at a time) against the composed gateway whose ENCRYPTED home
// mount lives on Dropbox — the Dropbox API test server (test/helpers/dropbox-server.ts) on
// 127.0.0.1, which models Dropbox's limits (case-insensitive names, no case-only rename,
// silent parent creation). Skips with a printed reason when litmus is missing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDropboxServer, type DropboxTestServer } from '../helpers/dropbox-server.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { LITMUS_SUITES, litmusUnavailable, runLitmusSuite } from '../helpers/litmus.js';

const missing = litmusUnavailable();
if (missing) console.warn(`skipping litmus over a Dropbox backend: ${missing}`);

describe.skipIf(!!missing)('litmus over an encrypted mount on a Dropbox backend (test server)', () => {
  let dbx: DropboxTestServer;
  let gw: TestGateway;
  beforeAll(async () => {
    dbx = await startDropboxServer({ pageSize: 50 });
    gw = await startTestGateway({
      users: { bob: 'bob-pw' },
      mounts: [{
        path: '/', encrypt: true,
        backend: { type: 'dropbox', root: '/davcrypt/{user}', token: dbx.accessToken, apiBase: dbx.url, contentBase: dbx.url },
      }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await dbx?.close();
  });

  for (const suite of LITMUS_SUITES) {
    it(suite, async () => {
      const r = await runLitmusSuite(suite, gw.url, 'bob', 'bob-pw');
      console.log(`litmus ${suite} (encrypted, dropbox backend): ${r.passed}/${r.run} passed, ${r.failed} failed, ${r.warnings} warnings`);
      expect(r.run, r.output).toBeGreaterThan(0);
      expect(r.failed, r.failures.join('\n') || r.output).toBe(0);
      expect(r.passed).toBe(r.run);
    });
  }
});
