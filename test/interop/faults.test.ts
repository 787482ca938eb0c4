// Fault suites that need Debian packages or root: a full disk (tmpfs) under local storage and
// under Apache (507, old version intact, no temp left), Apache stopped during many PUTs (every
// PUT gets a status, none a TCP reset; old versions intact), the same-size overwrite race on
// Apache (zero false tamper alarms), Redis stopped under a running gateway (503 within seconds,
// logged, health 503; back when Redis is), stale WebDAV temp uploads swept by age, and the real
// `npm start` forwarding SIGTERM to the gateway (no orphan). Each skips with a printed reason.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebdavBackend } from '../../src/backends/webdav.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { startClientGateway, type ClientGateway } from '../helpers/clients.js';
import { patternBytes, startTestGateway} from '../helpers/gateway.js';
import { overwriteRace } from '../helpers/overwrite-race.js';
import { rcloneAvailable, startRcloneServe } from '../helpers/rclone.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';
import { freePort, stopChild, tailBuffer } from '../helpers/server-process.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const apacheMissing = apacheAvailable();
if (apacheMissing) console.warn(`[skip] faults (apache): ${apacheMissing}`);
if (redisSkipReason) console.warn(`[skip] faults (redis): ${redisSkipReason}`);

/** Mounts a tmpfs of `size` at `dir`; the reason when that is not possible here. */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return r.status === 0 ? undefined : `mount -t tmpfs failed: ${r.stderr.toString().trim()}`;
}
const unmount = (dir: string) => spawnSync('umount', ['-l', dir]);

async function send(gw: { url: string }, auth: string, method: string, path: string, body?: Buffer, dispatcher?: Agent) {
  const started = Date.now();
  const headers: Record<string, string> = { authorization: auth };
  if (body) headers['content-length'] = String(body.length);
  try {
    const res = await request(new URL(path, gw.url), { method: method as 'GET', headers, body, ...(dispatcher ? { dispatcher } : {}) });
    const data = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, body: data, text: data.toString('utf8'), ms: Date.now() - started };
  } catch (err) {
    return { status: 0, body: Buffer.alloc(0), text: `${(err as Error & { code?: string }).code ?? ''} ${(err as Error).message}`, ms: Date.now() - started };
  }
}

describe('disk full (tmpfs)', () => {
  let tmp: TempDir;
  let skip: string | undefined;
  beforeAll(async () => {
    tmp = await makeTempDir('faults-tmpfs');
    await mkdir(join(tmp.path, 'disk'));
    skip = mountTmpfs(join(tmp.path, 'disk'), '3m');
    if (skip) console.warn(`[skip] faults (tmpfs): ${skip}`);
  });
  afterAll(async () => {
    if (!skip) unmount(join(tmp.path, 'disk'));
    await tmp.cleanup();
  });

  it('local storage full: 507 with a status (not a reset, not 499), the old version and no temp file left', async (ctx) => {
    if (skip) ctx.skip();
    const gw = await startClientGateway({ mounts: [{ path: '/', backend: { type: 'local', root: join(tmp.path, 'disk', '{user}') } }] });
    try {
      const old = patternBytes(500_000, 1);
      expect((await gw.req('PUT', '/f.bin', { body: old, headers: { 'content-length': String(old.length) } })).status).toBe(201);
      const home = join(tmp.path, 'disk', 'alice');
      const rawBefore = await readFile(join(home, 'f.bin'));
      const r = await send(gw.gw, gw.gw.authHeader(), 'PUT', '/f.bin', patternBytes(6 * 1024 * 1024, 2));
      console.log(`[faults] local disk full: status ${r.status} after ${r.ms} ms (${r.text.trim().slice(0, 80)})`);
      expect(r.status).toBe(507);
      expect(r.text).toMatch(/^DC_ERR_INSUFFICIENT_STORAGE: /);
      expect(r.text).not.toContain(tmp.path);
      await sleep(300);
      const line = gw.logs.filter((l) => l.message === 'request' && l.method === 'PUT').at(-1);
      expect(line?.status).toBe(507);
      expect((await readFile(join(home, 'f.bin'))).equals(rawBefore)).toBe(true);
      expect((await readdir(home)).filter((n) => n.startsWith('.davcrypt-tmp-'))).toEqual([]);
      expect((await gw.req('GET', '/f.bin')).body.equals(old)).toBe(true);
    } finally {
      await gw.close();
    }
  });

  it.skipIf(apacheMissing !== undefined)('Apache storage full: a status for the client, the old version intact', async (ctx) => {
    if (skip) ctx.skip();
    const root = join(tmp.path, 'disk', 'apache');
    await rm(root, { recursive: true, force: true });
    const apache = await startApache({ root, user: 'svc', password: 'svc-pw' });
    const gw = await startTestGateway({ backend: { webdavUrl: apache.url, username: 'svc', password: 'svc-pw', uploadViaTemp: false } });
    try {
      const auth = gw.authHeader();
      const old = patternBytes(300_000, 3);
      expect((await send(gw, auth, 'PUT', '/f.bin', old)).status).toBe(201);
      const rawBefore = await readFile(join(root, 'alice', 'f.bin'));
      const r = await send(gw, auth, 'PUT', '/f.bin', patternBytes(6 * 1024 * 1024, 4));
      console.log(`[faults] Apache disk full: status ${r.status} after ${r.ms} ms (${r.text.trim().slice(0, 80)})`);
      expect(r.status).toBe(507);
      expect((await readFile(join(root, 'alice', 'f.bin'))).equals(rawBefore)).toBe(true);
      expect((await send(gw, auth, 'GET', '/f.bin')).body.equals(old)).toBe(true);
    } finally {
      await gw.close();
      await apache.stop();
    }
  });
});

describe.skipIf(apacheMissing !== undefined)('Apache stopped during PUTs', () => {
  it('every PUT in flight gets a 5xx status (none a TCP reset); every old version stays', async () => {
    const tmp = await makeTempDir('faults-apache-kill');
    const root = join(tmp.path, 'share');
    const apache: ApacheServer = await startApache({ root, user: 'svc', password: 'svc-pw' });
    const gw = await startTestGateway({ backend: { webdavUrl: apache.url, username: 'svc', password: 'svc-pw', uploadViaTemp: false } });
    const agent = new Agent({ connections: 64, pipelining: 0 });
    try {
      const auth = gw.authHeader();
      const n = 24;
      const raw: Record<string, string> = {};
      for (let i = 0; i < n; i++) {
        expect((await send(gw, auth, 'PUT', `/f${i}.bin`, patternBytes(100_000, i), agent)).status).toBe(201);
        raw[i] = sha(await readFile(join(root, 'alice', `f${i}.bin`)));
      }
      // Big new versions, all in flight when Apache goes away.
      const puts = Array.from({ length: n }, (_, i) => send(gw, auth, 'PUT', `/f${i}.bin`, patternBytes(8 * 1024 * 1024, 100 + i), agent));
      await sleep(150);
      const stoppedAt = Date.now();
      await apache.stop();
      const results = await Promise.all(puts);
      const statuses: Record<string, number> = {};
      for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      console.log(`[faults] Apache stopped during ${n} PUTs: statuses ${JSON.stringify(statuses)}, last answer ${Math.max(...results.map((r) => r.ms))} ms after start (${Date.now() - stoppedAt} ms after the stop)`);
      expect(statuses['0'] ?? 0).toBe(0);
      for (const r of results) expect([201, 204, 502, 503, 504]).toContain(r.status);
      for (let i = 0; i < n; i++) {
        if (results[i]!.status >= 500) expect(sha(await readFile(join(root, 'alice', `f${i}.bin`)))).toBe(raw[i]);
      }
    } finally {
      await agent.close();
      await gw.close();
      await apache.stop();
      await tmp.cleanup();
    }
  }, 120_000);
});

describe.skipIf(apacheMissing !== undefined)('same-size overwrite racing range GETs on Apache', () => {
  it('300 rounds: zero false tamper alarms', async () => {
    const tmp = await makeTempDir('faults-apache-race');
    const apache = await startApache({ root: join(tmp.path, 'share'), user: 'svc', password: 'svc-pw' });
    const gw = await startTestGateway({ backend: { webdavUrl: apache.url, username: 'svc', password: 'svc-pw' } });
    try {
      const r = await overwriteRace(gw, gw.authHeader(), '/race.bin', 300);
      console.log(`[faults] overwrite race (Apache): ${r.rounds} rounds, ${r.gets} range GETs, statuses ${JSON.stringify(r.statuses)}, wrong bytes ${r.wrongBytes}, ${r.ms} ms${r.failures.length ? `; ${r.failures.join(' | ')}` : ''}`);
      expect(r.statuses[502] ?? 0).toBe(0);
      expect(r.statuses).toEqual({ 206: r.gets });
      expect(r.wrongBytes).toBe(0);
    } finally {
      await gw.close();
      await apache.stop();
      await tmp.cleanup();
    }
  }, 300_000);
});

describe.skipIf(apacheMissing !== undefined)('stale temp uploads on a WebDAV backend', () => {
  it('are removed by age when their folder is next written; other names stay', async () => {
    const tmp = await makeTempDir('faults-sweep');
    const root = join(tmp.path, 'share');
    const apache = await startApache({ root, user: 'svc', password: 'svc-pw' });
    const backend = new WebdavBackend({ url: apache.url, username: 'svc', password: 'svc-pw', uploadViaTemp: true, staleTempMs: 60 * 60 * 1000 });
    try {
      await mkdir(join(root, 'docs'), { recursive: true });
      const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
      const names = { stale: '.davcrypt-tmp-0123456789abcdef', fresh: '.davcrypt-tmp-fedcba9876543210', other: '.davcrypt-tmp-notours' };
      for (const name of Object.values(names)) await writeFile(join(root, 'docs', name), 'partial');
      await utimes(join(root, 'docs', names.stale), twoHoursAgo, twoHoursAgo);
      await utimes(join(root, 'docs', names.other), twoHoursAgo, twoHoursAgo);
      spawnSync('chown', ['-R', 'www-data:www-data', root]);
      await backend.write('/docs/new.txt', (await import('node:stream')).Readable.from([Buffer.from('hello')]), { size: 5 });
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        left = (await readdir(join(root, 'docs'))).sort();
        if (!left.includes(names.stale)) break;
        await sleep(100);
      }
      console.log(`[faults] WebDAV temp sweep: left in the folder after a write: ${left.join(', ')}`);
      expect(left).toEqual([names.fresh, names.other, 'new.txt'].sort());
    } finally {
      await backend.close();
      await apache.stop();
      await tmp.cleanup();
    }
  });
});

const rcloneMissing = rcloneAvailable();
if (rcloneMissing) console.warn(`[skip] faults (rclone): ${rcloneMissing}`);
describe.skipIf(rcloneMissing !== undefined)('stale temp uploads on rclone serve webdav (writes its PUT bodies in place)', () => {
  it('a temp upload left by a killed gateway goes when its folder is next written, after staleTempMs', async () => {
    const tmp = await makeTempDir('faults-sweep-rclone');
    const docs = join(tmp.path, 'share', 'docs');
    // Left on disk before rclone starts (it caches what it lists; it ignores X-OC-Mtime on PUT).
    await mkdir(docs, { recursive: true });
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    for (const name of ['.davcrypt-tmp-0123456789abcdef', '.davcrypt-tmp-fedcba9876543210', '.davcrypt-tmp-notours']) {
      await writeFile(join(docs, name), 'partial');
      if (name !== '.davcrypt-tmp-fedcba9876543210') await utimes(join(docs, name), twoHoursAgo, twoHoursAgo);
    }
    const rclone = await startRcloneServe({ root: join(tmp.path, 'share') });
    const backend = new WebdavBackend({ url: rclone.url, uploadViaTemp: true, staleTempMs: 60 * 60 * 1000 });
    try {
      await backend.write('/docs/new.txt', (await import('node:stream')).Readable.from([Buffer.from('hello')]), { size: 5 });
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        left = (await readdir(docs)).sort();
        if (!left.includes('.davcrypt-tmp-0123456789abcdef')) break;
        await sleep(100);
      }
      console.log(`[faults] rclone temp sweep: left in the folder after a write: ${left.join(', ')}`);
      expect(left).toEqual(['.davcrypt-tmp-fedcba9876543210', '.davcrypt-tmp-notours', 'new.txt']);
    } finally {
      await backend.close();
      await rclone.stop();
      await tmp.cleanup();
    }
  });
});

describe.skipIf(redisSkipReason !== undefined)('Redis stopped under a running gateway', () => {
  let redis: TestRedis;
  let gw: ClientGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gw = await startClientGateway({ store: redis.url, users: { alice: 'alice-pw', bob: 'bob-pw' }, config: { timeouts: { storeSeconds: 2 } } });
  });
  afterAll(async () => {
    await gw?.close();
    await redis?.stop();
  });

  it('answers 503 within seconds and logs it; health says so; recovers when Redis is back', async () => {
    expect((await gw.req('PUT', '/a.txt', { body: 'x', headers: { 'content-length': '1' } })).status).toBe(201);
    await redis.stop();
    // Needs the store: a first login (bob), dead properties (PROPFIND), locks (LOCK).
    const login = await send(gw.gw, gw.gw.authHeader('bob'), 'GET', '/');
    const propfind = await gw.req('PROPFIND', '/a.txt', { headers: { depth: '0' } });
    const health = await fetch(new URL('/.well-known/davcrypt/health', gw.gw.url));
    // The health path is the alias of /readyz: checks map to 'ok' or 'failed: <reason>', the failing ones listed.
    const report = (await health.json()) as { status: string; failing?: string[]; checks: Record<string, string> };
    console.log(`[faults] Redis stopped: first login ${login.status} in ${login.ms} ms; PROPFIND ${propfind.status} in ${propfind.ms} ms; ` +
      `health ${health.status} (store ${JSON.stringify(report.checks.store)})`);
    expect(login.status).toBe(503);
    expect(login.ms).toBeLessThan(5_000);
    expect(login.text).toMatch(/^DC_ERR_STORE_UNAVAILABLE: /);
    expect(propfind.status).toBe(503);
    expect(propfind.ms).toBeLessThan(5_000);
    expect(health.status).toBe(503);
    expect(report.failing).toContain('store');
    expect(report.checks.store).toMatch(/^failed/);
    await sleep(300);
    expect(gw.logs.some((l) => l.message === 'request failed' && l.code === 'DC_ERR_STORE_UNAVAILABLE')).toBe(true);

    // Redis back on the same port: the client reconnects by itself.
    const again = spawn('redis-server', ['--port', String(redis.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    try {
      let back = 0;
      const started = Date.now();
      while (Date.now() - started < 10_000) {
        back = (await gw.req('PROPFIND', '/a.txt', { headers: { depth: '0' } })).status;
        if (back === 207) break;
        await sleep(200);
      }
      console.log(`[faults] Redis back: PROPFIND ${back} after ${Date.now() - started} ms`);
      expect(back).toBe(207);
    } finally {
      await stopChild(again);
    }
  }, 60_000);
});

describe.skipIf(redisSkipReason !== undefined)('Redis hung (SIGSTOP) under a running gateway', () => {
  it('answers 503 after timeouts.storeSeconds instead of hanging', async () => {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    let gw: ClientGateway | undefined;
    try {
      for (let i = 0; i < 50; i++) {
        const up = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
        if (up) break;
        await sleep(100);
      }
      gw = await startClientGateway({ store: `redis://127.0.0.1:${port}`, users: { alice: 'alice-pw', bob: 'bob-pw' }, config: { timeouts: { storeSeconds: 2 } } });
      redis.kill('SIGSTOP');
      const login = await send(gw.gw, gw.gw.authHeader('bob'), 'GET', '/');
      console.log(`[faults] Redis hung (SIGSTOP): first login ${login.status} after ${login.ms} ms (storeSeconds 2)`);
      expect(login.status).toBe(503);
      expect(login.ms).toBeGreaterThanOrEqual(1_900);
      expect(login.ms).toBeLessThan(5_000);
      expect(login.text).toMatch(/^DC_ERR_STORE_UNAVAILABLE: .*no answer within 2000 ms/);
    } finally {
      redis.kill('SIGCONT');
      await gw?.close();
      await stopChild(redis);
    }
  }, 60_000);
});

describe('npm start', () => {
  it('SIGTERM to npm reaches the gateway: it stops gracefully, no orphan keeps the port', async () => {
    const repo = resolve(import.meta.dirname, '../..');
    const tmp = await makeTempDir('faults-npm-start');
    const port = await freePort();
    const out = tailBuffer();
    const npm: ChildProcess = spawn('npm', ['start'], {
      cwd: repo, env: { ...process.env, DAVCRYPT_DATA_DIR: tmp.path, DAVCRYPT_PORT: String(port), DAVCRYPT_ADMIN_PASSWORD: 'x-pw-long-enough' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    npm.stdout!.on('data', (c: Buffer) => out.push(c));
    npm.stderr!.on('data', (c: Buffer) => out.push(c));
    try {
      const deadline = Date.now() + 240_000;
      while (!out.text().includes('davcrypt listening on') && Date.now() < deadline && npm.exitCode === null) await sleep(200);
      expect(out.text()).toContain('davcrypt listening on');
      const stoppedAt = Date.now();
      const exited = new Promise((r) => npm.once('exit', r));
      npm.kill('SIGTERM');
      await exited;
      let refused = false;
      while (!refused && Date.now() - stoppedAt < 10_000) {
        refused = await request(`http://127.0.0.1:${port}/`, { method: 'OPTIONS' }).then((r) => { void r.body.dump(); return false; }, () => true);
        if (!refused) await sleep(100);
      }
      console.log(`[faults] npm start + SIGTERM: npm exited, port closed ${refused ? `after ${Date.now() - stoppedAt} ms` : 'NEVER (orphan)'}`);
      expect(refused).toBe(true);
      expect(out.text()).toMatch(/shutting down/);
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      // An orphan (the bug this guards against) must not outlive the test: find it by its port.
      const orphan = spawnSync('sh', ['-c', `grep -l 'DAVCRYPT_PORT=${port}' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3`]).stdout.toString().trim();
      for (const pid of orphan.split('\n').filter(Boolean)) if (Number(pid) !== process.pid) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      await tmp.cleanup();
    }
  }, 300_000);
});
