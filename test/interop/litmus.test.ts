// The WebDAV compliance suite litmus against the gateway, one suite at a time,
// over a plain local mount and an encrypted one (EncryptingBackend over LocalBackend).
// Skips with a printed reason when litmus is not installed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LITMUS_SUITES, litmusUnavailable, runLitmusSuite } from '../helpers/litmus.js';
import { startHarness, type Harness } from '../helpers/server-harness.js';

const missing = litmusUnavailable();
if (missing) console.warn(`skipping litmus interop: ${missing}`);

for (const encrypted of [false, true]) {
  describe.skipIf(!!missing)(`litmus over a ${encrypted ? 'encrypted' : 'plain'} mount`, () => {
    let h: Harness & { encrypted: boolean };
    beforeAll(async () => { h = await startHarness({ encrypted }); });
    afterAll(async () => { await h?.close(); });

    for (const suite of LITMUS_SUITES) {
      it(suite, async () => {
        expect(h.encrypted).toBe(encrypted);
        const r = await runLitmusSuite(suite, `${h.url}/`, 'bob', 'bob-pw');
        console.log(`litmus ${suite} (${encrypted ? 'encrypted' : 'plain'}): ${r.passed}/${r.run} passed, ${r.failed} failed, ${r.warnings} warnings`);
        expect(r.run, r.output).toBeGreaterThan(0);
        expect(r.failed, r.failures.join('\n') || r.output).toBe(0);
        expect(r.passed).toBe(r.run);
      });
    }
  });
}
