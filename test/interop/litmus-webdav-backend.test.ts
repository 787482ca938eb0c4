// litmus (all five suites, one at a time) against the composed gateway (startTestGateway)
// whose ENCRYPTED home mount lives on a WebDAV backend: Apache mod_dav, and rclone serve
// webdav (with uploadViaTemp, which rclone needs to keep old versions on aborted uploads).
// Skips with a printed reason when litmus, Apache or rclone is missing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { LITMUS_SUITES, litmusUnavailable, runLitmusSuite } from '../helpers/litmus.js';
import { rcloneAvailable, startRcloneServe, type RcloneServer } from '../helpers/rclone.js';

const litmusMissing = litmusUnavailable();
const backends = [
  { name: 'apache', missing: litmusMissing ?? apacheAvailable() },
  { name: 'rclone', missing: litmusMissing ?? rcloneAvailable() },
] as const;
for (const b of backends) if (b.missing) console.warn(`skipping litmus over a ${b.name} backend: ${b.missing}`);

for (const b of backends) {
  describe.skipIf(!!b.missing)(`litmus over an encrypted mount on a ${b.name} WebDAV backend`, () => {
    let dir: string;
    let server: ApacheServer | RcloneServer;
    let gw: TestGateway;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `davcrypt-litmus-${b.name}-`));
      const creds = { user: 'svc', password: 'svc-secret' };
      server = b.name === 'apache'
        ? await startApache({ root: join(dir, 'share'), ...creds })
        : await startRcloneServe({ root: join(dir, 'share'), ...creds });
      gw = await startTestGateway({
        users: { bob: 'bob-pw' },
        backend: { webdavUrl: server.url, username: creds.user, password: creds.password, uploadViaTemp: b.name === 'rclone' },
      });
    });
    afterAll(async () => {
      await gw?.close();
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    for (const suite of LITMUS_SUITES) {
      it(suite, async () => {
        const r = await runLitmusSuite(suite, gw.url, 'bob', 'bob-pw');
        console.log(`litmus ${suite} (encrypted, ${b.name} backend): ${r.passed}/${r.run} passed, ${r.failed} failed, ${r.warnings} warnings`);
        expect(r.run, r.output).toBeGreaterThan(0);
        expect(r.failed, r.failures.join('\n') || r.output).toBe(0);
        expect(r.passed).toBe(r.run);
      });
    }
  });
}
