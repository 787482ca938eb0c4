// Streams a large body through a backend (default: the WebDAV backend to a throwaway
// Apache mod_dav on 127.0.0.1) and back, sampling RSS, to show memory stays flat.
// Run: `npx tsx bench/backend-memory.ts [MiB]` (default 1024). Touches only its temp folders.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Backend } from '../src/backends/types.js';

const MIB = 1024 * 1024;

export interface MemoryReport {
  plainBytes: number;
  writeMs: number;
  readMs: number;
  baselineRssBytes: number;
  peakRssBytes: number;
  /** Peak RSS minus RSS before the transfer started. */
  peakRssDeltaBytes: number;
  digestsMatch: boolean;
}

/** A body of `bytes` bytes made from one reused 1 MiB buffer (generation itself allocates nothing). */
function patternBody(bytes: number, hash: ReturnType<typeof createHash>): Readable {
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      const n = Math.min(MIB, bytes - sent);
      const piece = n === MIB ? block : block.subarray(0, n);
      hash.update(piece);
      sent += n;
      this.push(Buffer.from(piece)); // a copy: the consumer may hold it while we refill
    },
  });
}

/** Writes then reads `bytes` at `path`, sampling RSS every 20 ms. */
export async function measureBackendMemory(backend: Backend, path: string, bytes: number): Promise<MemoryReport> {
  (globalThis as { gc?: () => void }).gc?.();
  const baselineRssBytes = process.memoryUsage.rss();
  let peakRssBytes = baselineRssBytes;
  const sampler = setInterval(() => { peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss()); }, 20);
  try {
    const writeHash = createHash('sha256');
    const t0 = Date.now();
    await backend.write(path, patternBody(bytes, writeHash), { size: bytes });
    const writeMs = Date.now() - t0;
    const readHash = createHash('sha256');
    const t1 = Date.now();
    const { body } = await backend.read(path);
    let got = 0;
    for await (const chunk of body) {
      readHash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
    }
    const readMs = Date.now() - t1;
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    return {
      plainBytes: got, writeMs, readMs, baselineRssBytes, peakRssBytes, peakRssDeltaBytes: peakRssBytes - baselineRssBytes,
      digestsMatch: got === bytes && writeHash.digest('hex') === readHash.digest('hex'),
    };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 1024);
  const { apacheAvailable, startApache } = await import('../test/helpers/apache.js');
  const { makeTempDir } = await import('../test/helpers/tmp.js');
  const { createWebdavBackend } = await import('../src/backends/webdav.js');
  const missing = apacheAvailable();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const tmp = await makeTempDir('bench-mem');
  const server = await startApache({ root: join(tmp.path, 'share'), user: 'bench', password: 'bench' });
  const backend = await createWebdavBackend({ url: server.url, username: 'bench', password: 'bench' });
  try {
    const r = await measureBackendMemory(backend, '/big.bin', mib * MIB);
    const mbps = (ms: number) => ((r.plainBytes / MIB) / (ms / 1000)).toFixed(0);
    console.log(`webdav→apache ${mib} MiB: write ${r.writeMs} ms (${mbps(r.writeMs)} MiB/s), read ${r.readMs} ms (${mbps(r.readMs)} MiB/s)`);
    console.log(`RSS baseline ${(r.baselineRssBytes / MIB).toFixed(1)} MiB, peak ${(r.peakRssBytes / MIB).toFixed(1)} MiB, ` +
      `peak delta ${(r.peakRssDeltaBytes / MIB).toFixed(1)} MiB, digests ${r.digestsMatch ? 'match' : 'DIFFER'}`);
    if (!r.digestsMatch) process.exitCode = 1;
  } finally {
    await backend.close();
    await server.stop();
    await tmp.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
