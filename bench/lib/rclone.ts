// `rclone serve webdav` over a `crypt` remote over a `webdav` remote (Apache):
// the comparison peer of issue 6. Config lives in a temp file passed with
// --config; passwords go through `rclone obscure`; serve auth via a {SHA}
// htpasswd file so no password appears on a command line.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awaitPeer, freePort, stopChild, which } from './procs.js';

export interface RcloneCryptOptions {
  /** WebDAV URL of the storage folder the crypt remote writes into. */
  backendUrl: string;
  backendUser: string;
  backendPassword: string;
  /** Credentials clients use against `rclone serve webdav`. */
  user: string;
  password: string;
}

export interface RcloneServer {
  url: string;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

export function rcloneAvailable(): { ok: true } | { ok: false; reason: string } {
  return which('rclone') ? { ok: true } : { ok: false, reason: 'rclone binary not found' };
}

function obscure(secret: string): string {
  const r = spawnSync('rclone', ['obscure', '-'], { input: secret, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rclone obscure failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Starts the rclone crypt peer; throws if it does not answer within 15 s. */
export async function startRcloneCrypt(opts: RcloneCryptOptions): Promise<RcloneServer> {
  const work = mkdtempSync(join(tmpdir(), 'davcrypt-bench-rclone-'));
  const cacheDir = join(work, 'cache');
  mkdirSync(cacheDir);
  const configPath = join(work, 'rclone.conf');
  writeFileSync(
    configPath,
    [
      '[store]',
      'type = webdav',
      `url = ${opts.backendUrl}`,
      'vendor = other',
      `user = ${opts.backendUser}`,
      `pass = ${obscure(opts.backendPassword)}`,
      '',
      '[crypt]',
      'type = crypt',
      'remote = store:',
      // Names stay visible, as with davcrypt: compare body encryption only.
      'filename_encryption = off',
      'directory_name_encryption = false',
      `password = ${obscure(createHash('sha256').update('pw1' + process.pid).digest('hex'))}`,
      `password2 = ${obscure(createHash('sha256').update('pw2' + process.pid).digest('hex'))}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const htpasswd = join(work, 'htpasswd');
  writeFileSync(htpasswd, `${opts.user}:{SHA}${createHash('sha1').update(opts.password).digest('base64')}\n`, { mode: 0o600 });
  const port = await freePort();
  const version = spawnSync('rclone', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? 'rclone';
  const child = spawn(
    'rclone',
    ['serve', 'webdav', 'crypt:', '--config', configPath, '--addr', `127.0.0.1:${port}`, '--htpasswd', htpasswd,
      '--cache-dir', cacheDir, '--log-level', 'ERROR'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: cacheDir } },
  );
  const url = `http://127.0.0.1:${port}`;
  await awaitPeer('rclone serve webdav', child, url + '/', 15_000);
  return {
    url,
    pid: child.pid ?? -1,
    version,
    async stop(): Promise<void> {
      await stopChild(child, 5000, 'SIGTERM');
      rmSync(work, { recursive: true, force: true });
    },
  };
}
