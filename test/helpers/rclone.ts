// Starts `rclone serve webdav` as a child process on a random 127.0.0.1 port, serving
// a given local folder (optionally with --user/--pass). Used by backend, gateway and
// interop suites. rclone reads no user config (RCLONE_CONFIG points at an empty file).
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild, tailBuffer, waitForHttp } from './server-process.js';

export interface RcloneOptions {
  /** Folder to serve (created if missing). */
  root: string;
  user?: string;
  password?: string;
  /** More flags for `rclone serve webdav`, e.g. ['--baseurl', '/dav']. */
  extraArgs?: string[];
}

export interface RcloneServer {
  /** Base URL of the share, ending in '/', without credentials. */
  url: string;
  port: number;
  /** rclone's recent stderr output. */
  log(): string;
  stop(): Promise<void>;
}

/** Undefined when rclone can run here, else the reason it cannot. */
export function rcloneAvailable(): string | undefined {
  const r = spawnSync('rclone', ['version'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) return 'rclone not found on PATH (apt-get install rclone)';
  return undefined;
}

/** Starts `rclone serve webdav <root>`; rejects with rclone's output when it does not come up. */
export async function startRcloneServe(opts: RcloneOptions): Promise<RcloneServer> {
  const reason = rcloneAvailable();
  if (reason) throw new Error(`rclone unavailable: ${reason}`);
  await mkdir(opts.root, { recursive: true });
  const confDir = await mkdtemp(join(tmpdir(), 'davcrypt-rclone-'));
  const confFile = join(confDir, 'rclone.conf');
  await writeFile(confFile, '');
  const baseIdx = opts.extraArgs?.indexOf('--baseurl') ?? -1;
  const baseUrl = baseIdx >= 0 ? `/${opts.extraArgs![baseIdx + 1]!.replace(/^\/+|\/+$/g, '')}/` : '/';
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ['serve', 'webdav', opts.root, '--addr', `127.0.0.1:${port}`];
    const verbosity = opts.extraArgs?.some((a) => /^(-v+|--verbose|--log-level)/.test(a));
    if (!verbosity) args.push('--log-level', 'NOTICE');
    if (opts.user !== undefined) args.push('--user', opts.user, '--pass', opts.password ?? '');
    args.push(...(opts.extraArgs ?? []));
    const output = tailBuffer();
    const child = spawn('rclone', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RCLONE_CONFIG: confFile },
    });
    child.stdout!.on('data', output.push);
    child.stderr!.on('data', output.push);
    try {
      await waitForHttp(port, child, 15_000, output.text);
    } catch (err) {
      await stopChild(child);
      lastError = err;
      continue;
    }
    return {
      url: `http://127.0.0.1:${port}${baseUrl === '//' ? '/' : baseUrl}`,
      port,
      log: output.text,
      async stop() {
        await stopChild(child);
        await rm(confDir, { recursive: true, force: true });
      },
    };
  }
  await rm(confDir, { recursive: true, force: true });
  throw lastError;
}
