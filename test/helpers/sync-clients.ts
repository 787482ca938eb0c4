// The ownCloud/Nextcloud command-line sync clients (Debian nextcloud-desktop-cmd and
// owncloud-client-cmd) for interop tests: availability, one sync run with a timeout, and a
// folder tree read into memory for byte-for-byte comparison (client journals left out).
// Passwords go to the client as arguments of a child process, never into test output.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type SyncClient = 'nextcloudcmd' | 'owncloudcmd';

/** Why the client cannot run here, or undefined when it can. */
export function syncClientMissing(bin: SyncClient): string | undefined {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  const pkg = bin === 'nextcloudcmd' ? 'nextcloud-desktop-cmd' : 'owncloud-client-cmd';
  return r.error ? `${bin} not found on PATH (apt-get install ${pkg})` : undefined;
}

/** Names the clients keep for themselves (journals, logs); never compared, never synced. */
export function isClientFile(name: string): boolean {
  return /^\.?_?sync_.*\.db/.test(name) || /^\.(owncloud|nextcloud)sync\.log/.test(name) || name === '.sync-exclude.lst';
}

/**
 * owncloudcmd on Debian ships without its system exclude list (owncloud-client-data) and aborts
 * with "Cannot load system exclude list"; it gets Nextcloud's list or a minimal one via --exclude.
 */
async function excludeFile(dir: string): Promise<string> {
  if (existsSync('/etc/Nextcloud/sync-exclude.lst')) return '/etc/Nextcloud/sync-exclude.lst';
  const file = join(dir, '..', 'sync-exclude.lst');
  await writeFile(file, '*~\n.~lock.*\n._sync_*.db*\n.sync_*.db*\n.owncloudsync.log*\n.nextcloudsync.log*\n');
  return file;
}

/** One sync run of `dir` against `url`; resolves with the exit code and the output's tail. */
export async function runSync(bin: SyncClient, dir: string, url: string, user: string, password: string, timeoutMs = 180_000): Promise<{ code: number; out: string }> {
  const args = ['--non-interactive', '--max-sync-retries', '2', '-u', user, '-p', password];
  if (bin === 'owncloudcmd') args.push('--exclude', await excludeFile(dir));
  args.push(dir, url);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QT_QPA_PLATFORM: 'offscreen' } });
    let out = '';
    const keep = (d: Buffer) => { out = (out + String(d)).slice(-20_000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${bin} timed out\n${out.split(password).join('***').slice(-4000)}`)); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out: out.split(password).join('***') }); });
  });
}

/** Every folder ('dir') and file (its bytes) below `root`, by relative path; client files left out. */
export async function readTree(root: string): Promise<Map<string, Buffer | 'dir'>> {
  const out = new Map<string, Buffer | 'dir'>();
  async function walk(rel: string): Promise<void> {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      if (isClientFile(e.name)) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.set(p, 'dir');
        await walk(p);
      } else {
        out.set(p, await readFile(join(root, p)));
      }
    }
  }
  await walk('');
  return out;
}

/** Differences between two trees as readable lines (empty when byte-for-byte equal). */
export function treeDiff(a: Map<string, Buffer | 'dir'>, b: Map<string, Buffer | 'dir'>): string[] {
  const lines: string[] = [];
  for (const [p, v] of a) {
    const w = b.get(p);
    if (w === undefined) lines.push(`only in first: ${p}`);
    else if (v === 'dir' || w === 'dir') { if (v !== w) lines.push(`type differs: ${p}`); }
    else if (!v.equals(w)) lines.push(`content differs: ${p} (${v.length} vs ${w.length} bytes)`);
  }
  for (const p of b.keys()) if (!a.has(p)) lines.push(`only in second: ${p}`);
  return lines;
}
