// rclone as a client (Debian rclone, a `webdav` remote in a temp config file) against
// the composed, ENCRYPTED gateway: `rclone sync` of ~300 files of mixed sizes (0 B, 1 B,
// 64 KiB ± 1, a few MiB, unicode and space names, nested folders) up and back down,
// `rclone check` clean, byte-identical download, ciphertext at rest, `rclone about`, for
// vendor=other (no mtimes) and vendor=owncloud (X-OC-Mtime kept to the second).
// Skips with a printed reason when rclone is missing.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf } from '../helpers/clients.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rcloneAvailable } from '../helpers/rclone.js';

const missing = rcloneAvailable();
if (missing) console.warn(`skipping rclone client interop: ${missing}`);

const PASSWORD = 'rc pw/+:ü';

/** Runs rclone with our config only; resolves with its output and exit code. */
function rclone(config: string, args: string[], timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('rclone', ['--config', config, '--low-level-retries', '2', '--retries', '1', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RCLONE_CONFIG: config },
    });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.stderr.on('data', (d) => { out += String(d); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`rclone ${args.join(' ')} timed out\n${out}`)); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out }); });
  });
}

/** ~300 files: every edge size, unicode/space names, three levels of folders, an empty folder. */
async function makeTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const sizes = [0, 1, 2, 100, 4095, 4096, 4097, 65_535, 65_536, 65_537, 131_072, 1_000_000, 3 * 1024 * 1024 + 17];
  const dirs = ['', 'docs', 'docs/Übersicht 2024', 'photos/raw/été', 'deep/a/b/c', 'spaces in name', '日本語'];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  await mkdir(join(root, 'empty folder'), { recursive: true });
  for (const s of sizes) files.set(`sizes/size-${s}.bin`, bytesOf(s, s + 1));
  for (let i = 0; files.size < 300; i++) {
    const d = dirs[i % dirs.length]!;
    const name = [`file ${i}.txt`, `naïve-${i}.md`, `テスト${i}.dat`, `#hash%percent&amp ${i}`, `UPPER_${i}.BIN`][i % 5]!;
    files.set(d ? `${d}/${name}` : name, bytesOf((i * 7919) % 20_000, i + 100));
  }
  await mkdir(join(root, 'sizes'), { recursive: true });
  const base = Date.UTC(2021, 5, 1, 12, 0, 0) / 1000;
  let k = 0;
  for (const [rel, body] of files) {
    await writeFile(join(root, rel), body);
    await utimes(join(root, rel), base + k, base + k++); // whole seconds, all different
  }
  return files;
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(root, p));
    }
  }
  await walk(root);
  return out.sort();
}

describe.skipIf(!!missing)('rclone client against the encrypted gateway', () => {
  let gw: TestGateway;
  let work: string;
  let src: string;
  let files: Map<string, Buffer>;
  let config: string;

  beforeAll(async () => {
    gw = await startTestGateway({ users: { carol: PASSWORD } });
    work = await mkdtemp(join(tmpdir(), 'davcrypt-rclone-client-'));
    src = join(work, 'src');
    files = await makeTree(src);
    config = join(work, 'rclone.conf');
    const obscured = await rclone(join(work, 'empty.conf'), ['obscure', PASSWORD]);
    const pass = obscured.out.trim();
    const remote = (name: string, vendor: string) => `[${name}]\ntype = webdav\nurl = ${gw.url}\nvendor = ${vendor}\nuser = carol\npass = ${pass}\n`;
    await writeFile(config, remote('other', 'other') + remote('oc', 'owncloud'), { mode: 0o600 });
  });
  afterAll(async () => {
    await gw?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const vendor of ['other', 'oc'] as const) {
    it(`vendor=${vendor === 'oc' ? 'owncloud' : 'other'}: sync up, check, sync down, bytes equal${vendor === 'oc' ? ', mtimes kept' : ''}`, async () => {
      const remote = `${vendor}:tree-${vendor}`;
      const started = Date.now();
      const up = await rclone(config, ['sync', src, remote, '--create-empty-src-dirs']);
      const upMs = Date.now() - started;
      expect(up.code, up.out).toBe(0);
      const check = await rclone(config, ['check', src, remote]);
      expect(check.code, check.out).toBe(0);
      expect(check.out).toMatch(/0 differences found/);
      expect(check.out).toMatch(/300 matching files/);

      // At rest: every file is ciphertext (DAVCRYPT header), none holds its plaintext.
      const stored = join(gw.storageRoot, 'carol', `tree-${vendor}`);
      const big = await readFile(join(stored, 'sizes', `size-${3 * 1024 * 1024 + 17}.bin`));
      expect(big.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
      expect(big.includes(files.get(`sizes/size-${3 * 1024 * 1024 + 17}.bin`)!.subarray(5000, 5064))).toBe(false);
      expect((await stat(join(stored, 'empty folder'))).isDirectory()).toBe(true);

      const down = join(work, `down-${vendor}`);
      const back = await rclone(config, ['sync', remote, down, '--create-empty-src-dirs']);
      expect(back.code, back.out).toBe(0);
      expect(await listFiles(down)).toEqual([...files.keys()].sort());
      for (const [rel, body] of files) expect((await readFile(join(down, rel))).equals(body), rel).toBe(true);

      const lsl = await rclone(config, ['lsl', remote]);
      const mtimes = new Map(lsl.out.trim().split('\n').map((l) => {
        const m = /^\s*(\d+) (\S+ \S+) (.+)$/.exec(l)!;
        return [m[3]!, Date.parse(m[2]!.replace(' ', 'T').replace(/\.\d+$/, 'Z'))] as const;
      }));
      let kept = 0;
      for (const rel of files.keys()) if (mtimes.get(rel) === (await stat(join(src, rel))).mtimeMs) kept++;
      if (vendor === 'oc') expect(kept).toBe(files.size);
      else expect(kept).toBeLessThan(files.size); // vendor=other: the protocol carries no mtime
      // A second sync transfers nothing.
      const again = await rclone(config, ['sync', src, remote, '-v']);
      expect(again.code, again.out).toBe(0);
      expect(again.out).not.toMatch(/Copied/);
      console.log(`rclone vendor=${vendor}: 300 files (${(([...files.values()].reduce((a, b) => a + b.length, 0)) / 1048576).toFixed(1)} MiB) up in ${upMs} ms, mtimes kept: ${kept}/${files.size}`);
    });
  }

  it('rclone about reports the quota properties', async () => {
    const about = await rclone(config, ['about', 'other:', '--json']);
    expect(about.code, about.out).toBe(0);
    const q = JSON.parse(about.out) as { used?: number; free?: number; total?: number };
    expect(q.free).toBeGreaterThan(0);
    expect(q.used).toBeGreaterThanOrEqual(0);
    expect(q.total).toBe((q.used ?? 0) + (q.free ?? 0));
  });

  it('deletes and moves through rclone are reflected (sync after local changes)', async () => {
    await rm(join(src, 'docs'), { recursive: true });
    await writeFile(join(src, 'new file.txt'), 'added later');
    const r = await rclone(config, ['sync', src, 'oc:tree-oc']);
    expect(r.code, r.out).toBe(0);
    const check = await rclone(config, ['check', src, 'oc:tree-oc']);
    expect(check.code, check.out).toBe(0);
    await expect(stat(join(gw.storageRoot, 'carol', 'tree-oc', 'docs'))).rejects.toThrow();
    const moved = await rclone(config, ['moveto', 'oc:tree-oc/new file.txt', 'oc:tree-oc/renamed.txt']);
    expect(moved.code, moved.out).toBe(0);
    const cat = await rclone(config, ['cat', 'oc:tree-oc/renamed.txt']);
    expect(cat.out).toBe('added later');
  });
});
