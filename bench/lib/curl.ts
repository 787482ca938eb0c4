// Large PUT and GET timed with curl, so the client is never the bottleneck (issue 15: the
// undici client topped out near 300 MB/s where curl reads the same Apache at 750+). The
// Authorization header goes in a curl config file (mode 0600), never on a command line.
// Bodies are checked outside the timed runs (measure.ts hashes one GET per peer).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from './procs.js';

export function curlAvailable(): boolean {
  return which('curl') !== undefined;
}

export interface CurlTransfer {
  status: number;
  ms: number;
  bytes: number;
}

/** Runs one curl transfer; `upload` is a file for PUT (-T, Content-Length from its size), else a GET into /dev/null. */
export async function curlTransfer(url: string, authorization: string, upload?: string): Promise<CurlTransfer> {
  const dir = mkdtempSync(join(tmpdir(), 'davcrypt-bench-curl-'));
  try {
    const config = join(dir, 'curl.conf');
    writeFileSync(config, `header = "Authorization: ${authorization}"\nheader = "Expect:"\n`, { mode: 0o600 });
    const args = ['-sS', '-K', config, '-o', '/dev/null', '-w', '%{http_code} %{time_total} %{size_download} %{size_upload}'];
    if (upload) args.push('-H', 'Content-Type: application/octet-stream', '-T', upload);
    args.push(url);
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    const m = /^(\d+) ([\d.]+) (\d+) (\d+)$/.exec(out.stdout.trim());
    if (out.code !== 0 || !m) throw new Error(`curl failed (${out.code}): ${out.stderr || out.stdout}`);
    return { status: Number(m[1]), ms: Number(m[2]) * 1000, bytes: Number(upload ? m[4] : m[3]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
