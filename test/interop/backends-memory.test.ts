// Large bodies stream: 256 MiB written and read through the WebDAV backend to a real
// Apache mod_dav must not grow the process RSS by more than 64 MiB. Skips without apache2.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createWebdavBackend } from '../../src/backends/webdav.js';
import { measureBackendMemory } from '../../bench/backend-memory.js';
import { apacheAvailable, startApache } from '../helpers/apache.js';
import { makeTempDir } from '../helpers/tmp.js';

const missing = apacheAvailable();
if (missing) console.warn(`[skip] backends-memory: ${missing}`);
const MIB = 1024 * 1024;

describe.skipIf(missing !== undefined)('webdav backend memory', () => {
  it('streams 256 MiB up and down with RSS growth under 64 MiB', async () => {
    const tmp = await makeTempDir('mem');
    const server = await startApache({ root: join(tmp.path, 'share'), user: 'm', password: 'm' });
    const backend = await createWebdavBackend({ url: server.url, username: 'm', password: 'm' });
    try {
      const r = await measureBackendMemory(backend, '/big.bin', 256 * MIB);
      console.log(`256 MiB: write ${r.writeMs} ms, read ${r.readMs} ms, peak RSS delta ${(r.peakRssDeltaBytes / MIB).toFixed(1)} MiB`);
      expect(r.digestsMatch).toBe(true);
      expect(r.plainBytes).toBe(256 * MIB);
      expect(r.peakRssDeltaBytes).toBeLessThan(64 * MIB);
      expect((await backend.stat('/big.bin')).size).toBe(256 * MIB);
    } finally {
      await backend.close();
      await server.stop();
      await tmp.cleanup();
    }
  });
});
