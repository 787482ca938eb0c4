// Child-process plumbing for the benchmark peers: free ports, readiness polling,
// graceful stop, RSS sampling from /proc/<pid>/status, and exit-time cleanup.
// Only ever signals processes this benchmark spawned, by pid.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` with OPTIONS until any HTTP status comes back. Throws after `timeoutMs` or if `child` exits. */
export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before listening`);
    try {
      const res = await request(url, { method: 'OPTIONS', headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not answering after ${timeoutMs} ms (${last})`);
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** VmRSS and VmHWM of a process in bytes, or undefined once it is gone. */
export function readMemory(pid: number): { rssBytes: number; hwmBytes: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system, all threads) a process has used so far, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of `pid` every `intervalMs` until stop() is called; stop() returns the peak in bytes. */
export function sampleRss(pid: number, intervalMs = 20): { stop(): number } {
  let peak = readMemory(pid)?.rssBytes ?? 0;
  const timer = setInterval(() => {
    const m = readMemory(pid);
    if (m && m.rssBytes > peak) peak = m.rssBytes;
  }, intervalMs);
  return {
    stop(): number {
      clearInterval(timer);
      const m = readMemory(pid);
      if (m && m.rssBytes > peak) peak = m.rssBytes;
      return peak;
    },
  };
}

export function which(binary: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

const cleanups: Array<() => void> = [];
let hooked = false;

/** Registers a synchronous cleanup run on exit, SIGINT and SIGTERM (kill children, unmount). */
export function onExit(fn: () => void): void {
  cleanups.push(fn);
  if (hooked) return;
  hooked = true;
  const runAll = (): void => {
    while (cleanups.length) {
      try { cleanups.pop()?.(); } catch { /* best effort at exit */ }
    }
  };
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => { runAll(); process.exit(130); });
  }
}
