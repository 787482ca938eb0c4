// A real davfs2 mount (Debian davfs2, FUSE) of the composed, ENCRYPTED gateway:
// write files of several sizes and names through the kernel, mkdir/rename/delete,
// unmount (davfs2 uploads on close/unmount), check bytes and ciphertext through the
// gateway, remount and read everything back through the file system.
// Skips with the exact reason when not root, without /dev/fuse or mount.davfs, or when
// the kernel refuses the mount (sandbox); any other mount failure fails the test.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf } from '../helpers/clients.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'davfs2 mount needs root';
  if (!existsSync('/usr/sbin/mount.davfs') && spawnSync('sh', ['-c', 'command -v mount.davfs']).status !== 0) return 'mount.davfs not installed (apt-get install davfs2)';
  if (!existsSync('/dev/fuse')) return '/dev/fuse missing (no FUSE in this kernel/container)';
  return undefined;
}
const missing = unavailable();
if (missing) console.warn(`skipping davfs2 mount interop: ${missing}`);

/** Errors that mean "this machine cannot mount FUSE", not "the gateway is broken". */
const ENVIRONMENT_REFUSAL = /fuse: device not found|Operation not permitted|No such device|can't open fuse device|permission denied.*fuse|not supported/i;

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.stderr.on('data', (d) => { out += String(d); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, out: out + err.message }); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out }); });
  });
}

describe.skipIf(!!missing)('davfs2 mount of the encrypted gateway', () => {
  let gw: TestGateway;
  let work: string;
  let mnt: string;
  let conf: string;
  let mounted = false;
  let refusal: string | undefined;
  const files = new Map<string, Buffer>([
    ['empty.txt', Buffer.alloc(0)],
    ['one.bin', bytesOf(1, 1)],
    ['k64-1.bin', bytesOf(65_535, 2)],
    ['k64.bin', bytesOf(65_536, 3)],
    ['k64+1.bin', bytesOf(65_537, 4)],
    ['big 3MiB.bin', bytesOf(3 * 1024 * 1024 + 5, 5)],
    ['Grüße aus Köln.txt', Buffer.from('unicode name')],
    ['sub/dir/nested.txt', Buffer.from('nested')],
  ]);

  const mount = async () => {
    const r = await run('mount', ['-t', 'davfs', gw.url, mnt, '-o', `conf=${conf},uid=0,gid=0`]);
    if (r.code !== 0) {
      if (ENVIRONMENT_REFUSAL.test(r.out)) { refusal = `mount -t davfs refused here: ${r.out.trim()}`; return; }
      throw new Error(`mount -t davfs failed (${r.code}): ${r.out}`);
    }
    mounted = true;
  };
  const umount = async () => {
    if (!mounted) return;
    const r = await run('umount', [mnt], 120_000);
    if (r.code !== 0) throw new Error(`umount failed: ${r.out}`);
    mounted = false;
  };

  beforeAll(async () => {
    gw = await startTestGateway({ users: { dave: 'davfs-pw' } });
    work = await mkdtemp(join(tmpdir(), 'davcrypt-davfs2-'));
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    // mount.davfs drops root for its dav_user (davfs2): it must reach and own its cache.
    await chmod(work, 0o755);
    await mkdir(join(work, 'cache'), { mode: 0o775 });
    const gid = Number(spawnSync('id', ['-g', 'davfs2']).stdout?.toString().trim());
    if (Number.isInteger(gid) && gid > 0) await chown(join(work, 'cache'), 0, gid); // like /var/cache/davfs2
    await chmod(join(work, 'cache'), 0o775);
    conf = join(work, 'davfs2.conf');
    await writeFile(join(work, 'secrets'), `${gw.url} dave davfs-pw\n`, { mode: 0o600 });
    // buf_size 64: Linux >= 6.16 fails every readdir without it (davfs2 issue 22).
    await writeFile(conf, `secrets ${join(work, 'secrets')}\ncache_dir ${join(work, 'cache')}\nask_auth 0\ndelay_upload 0\nbuf_size 64\nuse_locks 1\n`, { mode: 0o600 });
    await mount();
  });
  afterAll(async () => {
    if (mounted) await run('umount', ['-l', mnt]);
    await gw?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes through the mount arrive encrypted and byte-identical; reads back after a remount', async (ctx) => {
    if (refusal) { console.warn(`skipping: ${refusal}`); ctx.skip(); return; }
    await mkdir(join(mnt, 'sub', 'dir'), { recursive: true });
    for (const [rel, body] of files) await writeFile(join(mnt, rel), body);
    await mkdir(join(mnt, 'gone'));
    await writeFile(join(mnt, 'gone', 'tmp.txt'), 'temporary');
    await rename(join(mnt, 'one.bin'), join(mnt, 'renamed one.bin'));
    await unlink(join(mnt, 'gone', 'tmp.txt'));
    await rm(join(mnt, 'gone'), { recursive: true });
    await umount(); // davfs2 finishes its uploads before the unmount returns

    const auth = { authorization: gw.authHeader('dave') };
    const expected = new Map([...files].map(([k, v]) => [k === 'one.bin' ? 'renamed one.bin' : k, v]));
    for (const [rel, body] of expected) {
      const res = await fetch(new URL(rel.split('/').map(encodeURIComponent).join('/'), gw.url), { headers: auth });
      expect(res.status, rel).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(body), rel).toBe(true);
    }
    const atRest = await readFile(join(gw.storageRoot, 'dave', 'big 3MiB.bin'));
    expect(atRest.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect(atRest.includes(files.get('big 3MiB.bin')!.subarray(9000, 9064))).toBe(false);
    await expect(stat(join(gw.storageRoot, 'dave', 'gone'))).rejects.toThrow();
    await expect(stat(join(gw.storageRoot, 'dave', 'one.bin'))).rejects.toThrow();

    await mount();
    expect(mounted).toBe(true);
    const names = (await readdir(mnt)).filter((n) => n !== 'lost+found').sort();
    expect(names).toEqual(['big 3MiB.bin', 'empty.txt', 'Grüße aus Köln.txt', 'k64+1.bin', 'k64-1.bin', 'k64.bin', 'renamed one.bin', 'sub'].sort());
    for (const [rel, body] of expected) expect((await readFile(join(mnt, rel))).equals(body), rel).toBe(true);
    expect((await stat(join(mnt, 'big 3MiB.bin'))).size).toBe(files.get('big 3MiB.bin')!.length); // plaintext sizes
    await umount();
  });
});
