// Throughput of GETs of one small file over N concurrent keep-alive connections:
// wrk (C, so the client is not the bottleneck on 2 cores) with a Lua script that
// sets the Authorization header (kept off the command line), or an undici loop
// when wrk is missing. Reports req/s and how many responses were not 200.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface SmallGetResult {
  requestsPerSec: number;
  requests: number;
  failed: number;
  tool: 'wrk' | 'undici';
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs wrk for `seconds`; throws if wrk fails or its output cannot be parsed. */
export async function wrkSmallGet(url: string, authorization: string, connections: number, seconds: number): Promise<SmallGetResult> {
  const dir = mkdtempSync(join(tmpdir(), 'davcrypt-bench-wrk-'));
  try {
    const script = join(dir, 'auth.lua');
    writeFileSync(script, `wrk.method = "GET"\nwrk.headers["Authorization"] = "${authorization}"\n`, { mode: 0o600 });
    const threads = Math.min(2, connections);
    const r = await run('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '-s', script, url]);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    const total = /(\d+) requests in/.exec(r.stdout);
    if (r.code !== 0 || !rps || !total) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
    const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    return { requestsPerSec: Number(rps[1]), requests: Number(total[1]), failed: non2xx + sockErrors, tool: 'wrk' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Same measurement with undici: `connections` loops, each one request at a time, for `seconds`. */
export async function undiciSmallGet(url: string, authorization: string, connections: number, seconds: number): Promise<SmallGetResult> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const deadline = performance.now() + seconds * 1000;
  let requests = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const res = await pool.request({ path: u.pathname, method: 'GET', headers: { authorization } });
      await res.body.dump();
      requests++;
      if (res.statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  await pool.close();
  return { requestsPerSec: requests / elapsed, requests, failed, tool: 'undici' };
}
