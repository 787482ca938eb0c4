// CPU per Depth-1 PROPFIND of N files (FILES, default 1000; REPS, default 300), in process: Apache (mod_dav) as the backend, the gateway
// started in this process, a raw node:http client discarding the body. Prints our process's CPU
// ms per PROPFIND (Apache's CPU is not ours), for before/after comparisons in one session.
// `node --max-semi-space-size=2 --import tsx bench/propfind-cpu.ts` (PLAIN=1: unencrypted mount).
import { Agent, request } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApache } from '../test/helpers/apache.js';
import { startTestGateway } from '../test/helpers/gateway.js';

const files = Number(process.env.FILES ?? 1000);
const reps = Number(process.env.REPS ?? 300);
const apache = await startApache({ root: await mkdtemp(join(tmpdir(), 'pfcpu-')) });
const gw = await startTestGateway({ backend: { webdavUrl: apache.url }, encrypt: process.env.PLAIN !== '1' });
const auth = gw.authHeader();
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function go(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url.replace(/\/$/, '')}${path}`, { method, agent, headers: { authorization: auth, ...headers } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(res.statusCode === 207 ? n : res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}
await go('MKCOL', '/d/');
const body = Buffer.alloc(1024, 7);
for (let i = 0; i < files; i++) await go('PUT', `/d/file-${String(i).padStart(5, '0')}.bin`, body);
for (let i = 0; i < 50; i++) await go('PROPFIND', '/d/', undefined, { depth: '1' });
const bytes = await go('PROPFIND', '/d/', undefined, { depth: '1' });
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < reps; i++) await go('PROPFIND', '/d/', undefined, { depth: '1' });
const ms = performance.now() - t0;
const c = process.cpuUsage(c0);
console.log(`${reps} PROPFIND Depth 1 of ${files}: ${(ms / reps).toFixed(2)} ms each, CPU ${((c.user + c.system) / 1000 / reps).toFixed(2)} ms each (this process), response ${bytes} bytes`);
await gw.close();
await apache.stop();
agent.destroy();
