// Child-process plumbing for the benchmark peers: free ports, readiness polling,
// graceful stop, RSS sampling from /proc/<pid>/status, and exit-time cleanup.
// Only ever signals processes this benchmark spawned, by pid.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** `pid` and every process below it (a cluster primary and its workers, nginx's master and workers), from /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const list = children.get(ppid) ?? [];
        list.push(Number(name));
        children.set(ppid, list);
      } catch { /* exited meanwhile */ }
    }
  } catch {
    return [pid];
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/** CPU seconds of `pid` and all its descendants (see processTree); undefined once `pid` is gone. */
export function treeCpuSeconds(pid: number): number | undefined {
  const own = cpuSeconds(pid);
  if (own === undefined) return undefined;
  return processTree(pid).slice(1).reduce((sum, p) => sum + (cpuSeconds(p) ?? 0), own);
}

/**
 * Samples VmRSS of `pid` and its descendants every `intervalMs` until stop() is called; stop()
 * returns the peak of the largest single process in bytes (the per-process RSS the target is on).
 */
export function sampleRss(pid: number, intervalMs = 20): { stop(): number } {
  let tree = processTree(pid);
  const largest = (): number => Math.max(0, ...tree.map((p) => readMemory(p)?.rssBytes ?? 0));
  let peak = largest();
  let ticks = 0;
  const timer = setInterval(() => {
    if (++ticks % 50 === 0) tree = processTree(pid); // a replaced worker
    peak = Math.max(peak, largest());
  }, intervalMs);
  return {
    stop(): number {
      clearInterval(timer);
      return Math.max(peak, largest());
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

/**
 * Waits until a spawned peer answers `url` over HTTP; it is killed at exit either way. When it does
 * not answer in time it is killed and the error carries the last 4000 bytes of its stderr (the
 * child must be spawned with stderr piped).
 */
export async function awaitPeer(label: string, child: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const kill = (): void => { if (child.exitCode === null) child.kill('SIGKILL'); };
  onExit(kill);
  try {
    await waitForHttp(url, timeoutMs, child);
  } catch (err) {
    kill();
    throw new Error(`${label} did not start: ${(err as Error).message}\n${stderr}`.trim(), { cause: err });
  }
}
