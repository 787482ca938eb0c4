// Minimal Apache httpd + mod_dav_fs starter for the benchmark (same shape as
// test/helpers/apache.ts: startApache({root, user, password}) -> {url, stop()}).
// Own config file, own port on 127.0.0.1, Basic auth with a {SHA} htpasswd entry
// (cheap to check, so we measure DAV and not password hashing). Touches only `root`
// and its own temp dir.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, onExit, stopChild, waitForHttp, which } from './procs.js';

const MODULE_DIRS = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/libexec/apache2'];

export interface ApacheOptions {
  root: string;
  user?: string;
  password?: string;
}

export interface ApacheServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function binary(): string | undefined {
  return which('apache2') ?? which('httpd');
}

function moduleDir(): string | undefined {
  return MODULE_DIRS.find((d) => existsSync(join(d, 'mod_dav_fs.so')));
}

/** Whether Apache with mod_dav_fs can be started here; a reason when not. */
export function apacheAvailable(): { ok: true } | { ok: false; reason: string } {
  if (!binary()) return { ok: false, reason: 'apache2/httpd binary not found' };
  if (!moduleDir()) return { ok: false, reason: 'mod_dav_fs.so not found' };
  return { ok: true };
}

function chownToWww(paths: string[]): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync('chown', ['-R', 'www-data:www-data', ...paths]);
  return r.status === 0;
}

/** Starts Apache serving `root` over WebDAV. Throws if it does not answer within 15 s. */
export async function startApache(opts: ApacheOptions): Promise<ApacheServer> {
  const bin = binary();
  const mods = moduleDir();
  if (!bin || !mods) throw new Error('Apache with mod_dav_fs is not installed');
  const user = opts.user ?? 'bench';
  const password = opts.password ?? 'bench';
  const work = mkdtempSync(join(tmpdir(), 'davcrypt-bench-apache-'));
  mkdirSync(join(work, 'lock'));
  const htpasswd = join(work, 'htpasswd');
  writeFileSync(htpasswd, `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}\n`, { mode: 0o644 });
  const port = await freePort();
  const asWww = chownToWww([opts.root, join(work, 'lock')]);
  const load = (name: string, file: string): string => `LoadModule ${name}_module ${mods}/${file}`;
  const conf = [
    `ServerRoot ${work}`,
    `Listen 127.0.0.1:${port}`,
    'ServerName 127.0.0.1',
    `PidFile ${work}/httpd.pid`,
    `DefaultRuntimeDir ${work}`,
    `ErrorLog ${work}/error.log`,
    'LogLevel warn',
    asWww ? 'User www-data\nGroup www-data' : '',
    load('mpm_event', 'mod_mpm_event.so'),
    load('authz_core', 'mod_authz_core.so'),
    load('authn_core', 'mod_authn_core.so'),
    load('authn_file', 'mod_authn_file.so'),
    load('auth_basic', 'mod_auth_basic.so'),
    load('authz_user', 'mod_authz_user.so'),
    load('dav', 'mod_dav.so'),
    load('dav_fs', 'mod_dav_fs.so'),
    'StartServers 2',
    'ThreadsPerChild 32',
    'MaxRequestWorkers 128',
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 60',
    'Timeout 600',
    'LimitRequestBody 0',
    `DAVLockDB ${work}/lock/DAVLock`,
    `DocumentRoot ${opts.root}`,
    `<Directory ${opts.root}>`,
    '  Dav On',
    '  AllowOverride None',
    '  Options None',
    '  AuthType Basic',
    '  AuthName "davcrypt bench"',
    `  AuthUserFile ${htpasswd}`,
    '  Require valid-user',
    '</Directory>',
  ].join('\n');
  const confPath = join(work, 'httpd.conf');
  writeFileSync(confPath, conf + '\n');
  const child = spawn(bin, ['-f', confPath, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const kill = (): void => { if (child.exitCode === null) child.kill('SIGKILL'); };
  onExit(kill);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(url + '/', 15_000, child);
  } catch (err) {
    kill();
    const log = existsSync(join(work, 'error.log')) ? readFileSync(join(work, 'error.log'), 'utf8') : '';
    throw new Error(`Apache did not start: ${(err as Error).message}\n${stderr}${log}`.trim());
  }
  chmodSync(work, 0o755);
  return {
    url,
    pid: child.pid ?? -1,
    async stop(): Promise<void> {
      // SIGWINCH would be graceful-stop; SIGTERM stops at once, which is what we want here.
      await stopChild(child, 5000, 'SIGTERM');
      rmSync(work, { recursive: true, force: true });
    },
  };
}
