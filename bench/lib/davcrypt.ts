// Starts the davcrypt gateway as a child process (`node --import tsx src/cli.ts
// serve --config <generated yaml>`, or the tsc-compiled cli.js) so its RSS and
// CPU profile are its own.
// Encrypting mount "/" over a WebDAV backend, fast argon2 params (t=1) with the default 64 MiB memory, one bench user
// added via `davcrypt user add` with the password on stdin. Never edits src/.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, request } from 'undici';
import { basicAuth } from './client.js';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort, onExit, stopChild, waitForHttp } from './procs.js';

export interface DavcryptOptions {
  repoRoot: string;
  backendUrl: string;
  backendUser: string;
  backendPassword: string;
  user: string;
  password: string;
  /** When set, the child runs with --cpu-prof writing into this folder. */
  cpuProfDir?: string;
  /** `bin`: bin/davcrypt.js after `npm run build` (compiled dist/, as `npm start` runs it); `tsx`: src/cli.ts
   *  through the tsx loader; `node`: compiled by tsc into bench/results/build first. */
  runtime: 'bin' | 'tsx' | 'node';
  /** Extra node flags for the gateway process. */
  nodeFlags?: string[];
  /** server.workers (default 1: one process). */
  workers?: number;
}

export interface DavcryptServer {
  url: string;
  pid: number;
  logPath: string;
  stop(): Promise<void>;
}

/** Whether `src/cli.ts serve` exists yet; a reason when not. */
export function davcryptAvailable(repoRoot: string): { ok: true } | { ok: false; reason: string } {
  const cli = join(repoRoot, 'src/cli.ts');
  if (!existsSync(cli)) return { ok: false, reason: 'src/cli.ts does not exist yet' };
  if (!/\bserve\b/.test(readFileSync(cli, 'utf8'))) return { ok: false, reason: "src/cli.ts has no 'serve' command yet" };
  return { ok: true };
}

function cliArgs(repoRoot: string, extra: string[], runtime: 'bin' | 'tsx' | 'node' = 'tsx'): string[] {
  if (runtime === 'node') return [join(repoRoot, BUILD_DIR, 'davcrypt.js'), ...extra];
  if (runtime === 'bin') return [join(repoRoot, 'bin/davcrypt.js'), ...extra];
  return ['--import', 'tsx', join(repoRoot, 'src/cli.ts'), ...extra];
}

/** The node flags of `npm start` (package.json scripts.start); keep in step. */
export const NPM_START_NODE_FLAGS = ['--max-semi-space-size=2', '--v8-pool-size=2'];

/** Inside the repo (so node_modules resolves) and gitignored. */
const BUILD_DIR = 'bench/results/build';

/** `npm run build` (tsc -p tsconfig.build.json into dist/), so bin/davcrypt.js runs the compiled CLI. Throws when dist/cli.js is missing after. */
export function buildDist(repoRoot: string): string {
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (!existsSync(join(repoRoot, 'dist/cli.js'))) throw new Error(`npm run build produced no dist/cli.js: ${(r.stdout + r.stderr).slice(-1500)}`);
  return r.status === 0 ? 'built cleanly' : `built with type errors (exit ${r.status})`;
}

/** Compiles the project with tsc into bench/results/build (type errors are reported, not fatal). Throws if cli.js is missing after. */
export function compileGateway(repoRoot: string): string {
  const out = join(repoRoot, BUILD_DIR);
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', out], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  const cli = join(out, 'src/cli.js');
  if (!existsSync(cli)) throw new Error(`tsc produced no ${BUILD_DIR}/src/cli.js: ${(r.stdout + r.stderr).slice(-1500)}`);
  // src/cli.ts runs main() only when argv[1] looks like cli.ts or davcrypt(.js), so enter through a davcrypt.js.
  writeFileSync(join(out, 'davcrypt.js'), "await import('./src/cli.js');\n");
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module', version: 'bench-build' }) + '\n');
  return r.status === 0 ? 'compiled cleanly' : `compiled with type errors (exit ${r.status})`;
}

/** Writes config, adds the user, starts `serve`; throws with the log tail if it does not answer in 30 s. */
export async function startDavcrypt(opts: DavcryptOptions): Promise<DavcryptServer> {
  const work = mkdtempSync(join(tmpdir(), 'davcrypt-bench-gw-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  const port = await freePort();
  const config = {
    server: { host: '127.0.0.1', port, workers: opts.workers ?? 1 },
    dataDir,
    store: `sqlite://${join(dataDir, 'store.sqlite')}`,
    // m as the default (64 MiB): glibc returns such blocks to the OS, while small ones (8 MiB) stay in
    // malloc arenas and add ~30 MiB of RSS that production settings would not have. t = 1 keeps it fast.
    keys: { argon2: { m: 65536, t: 1, p: 1 } },
    mounts: [
      {
        path: '/',
        encrypt: true,
        users: [opts.user],
        backend: { type: 'webdav', url: opts.backendUrl, username: opts.backendUser, password: opts.backendPassword },
      },
    ],
  };
  const configPath = join(work, 'davcrypt.yaml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });
  const env = { ...process.env, NODE_ENV: 'production', DAVCRYPT_ADMIN_PASSWORD: randomBytes(18).toString('base64url') };

  await addUser(opts, configPath, env, work);
  const logPath = join(work, 'gateway.log');
  const logFd = openSync(logPath, 'a');
  // `bin` gets the node flags `npm start` passes (package.json); --gateway-node-flag comes after, so it wins.
  const startFlags = opts.runtime === 'bin' ? NPM_START_NODE_FLAGS : [];
  const nodeFlags = [...startFlags, ...(opts.nodeFlags ?? []), ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', resolve(opts.cpuProfDir)] : [])];
  const child = spawn(process.execPath, [...nodeFlags, ...cliArgs(opts.repoRoot, ['serve', '--config', configPath], opts.runtime)], {
    cwd: opts.repoRoot,
    stdio: ['ignore', logFd, logFd],
    env,
  });
  const kill = (): void => { if (child.exitCode === null) child.kill('SIGKILL'); };
  onExit(kill);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForLogin(url + '/', basicAuth(opts.user, opts.password), 60_000, child);
    await warmWorkers(url + '/', basicAuth(opts.user, opts.password), opts.workers ?? 1);
  } catch (err) {
    kill();
    const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-2000) : '';
    throw new Error(`davcrypt serve did not start: ${(err as Error).message}\n${tail}`.trim(), { cause: err });
  }
  return {
    url,
    pid: child.pid ?? -1,
    logPath,
    async stop(): Promise<void> {
      // SIGINT lets a graceful shutdown run process.exit, which flushes --cpu-prof.
      await stopChild(child, 10_000, 'SIGINT');
      if (!process.env.BENCH_KEEP_TMP) rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Polls an authenticated PROPFIND Depth 0 until it answers 207 (listening and the user exists). */
async function waitForLogin(url: string, authorization: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  await waitForHttp(url, timeoutMs, child);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let serverErrors = 0;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited with code ${child.exitCode}`);
    const res = await request(url, { method: 'PROPFIND', headers: { authorization, depth: '0' } });
    last = `${res.statusCode} ${(await res.body.text()).slice(0, 200)}`;
    if (res.statusCode === 207) return;
    if (res.statusCode >= 500 && ++serverErrors >= 3) break; // a broken build, not a slow start
    await sleep(200);
  }
  throw new Error(`PROPFIND / as the bench user did not answer 207 (last: ${last})`);
}

/**
 * Each worker logs in once (argon2, ~0.1-0.2 s of CPU) and keeps its own login cache: a
 * request on a fresh connection per worker, twice over (the primary hands new connections
 * round-robin), so no measured phase pays a first login.
 */
async function warmWorkers(url: string, authorization: string, workers: number): Promise<void> {
  if (workers <= 1) return;
  for (let i = 0; i < 2 * workers; i++) {
    const client = new Client(new URL(url).origin);
    try {
      const res = await client.request({ path: new URL(url).pathname, method: 'PROPFIND', headers: { authorization, depth: '0' } });
      await res.body.dump();
      if (res.statusCode !== 207) throw new Error(`warm-up PROPFIND answered ${res.statusCode}`);
    } finally {
      await client.close();
    }
  }
}

async function addUser(opts: DavcryptOptions, configPath: string, env: NodeJS.ProcessEnv, work: string): Promise<void> {
  const add = spawnSync(process.execPath, cliArgs(opts.repoRoot, ['user', 'add', opts.user, '--config', configPath], opts.runtime), {
    cwd: opts.repoRoot,
    input: `${opts.password}\n${opts.password}\n`,
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  if (add.status !== 0) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`davcrypt user add failed (exit ${add.status}): ${(add.stderr || add.stdout).trim().slice(-1500)}`);
  }
}
