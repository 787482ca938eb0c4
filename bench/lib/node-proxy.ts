// Starts bench/lib/node-proxy-server.ts (a forward-only Node proxy: the floor of any
// gateway built on node:http + undici) in front of the same Apache, as a child process
// so its CPU is its own.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { awaitPeer, freePort, stopChild } from './procs.js';

export interface NodeProxyServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startNodeProxy(repoRoot: string, upstreamPort: number): Promise<NodeProxyServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/lib/node-proxy-server.ts'), String(port), `http://127.0.0.1:${upstreamPort}`], {
    cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}`;
  await awaitPeer('node proxy', child, url + '/', 30_000);
  return { url, pid: child.pid ?? -1, stop: () => stopChild(child, 5000, 'SIGTERM') };
}
