// Process faults of `davcrypt serve` run as a child process: SIGTERM while an upload is in flight
// (the upload finishes, new connections are refused, exit 0), SIGTERM past the grace bound (the
// upload is cut, the old version stays), SIGKILL mid-PUT then restart (the hidden temp file is
// removed, the old version stays). Prints the observed status and timing of each.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAVCRYPT_BIN } from '../helpers/cli.js';
import { TEST_ARGON2, patternBytes } from '../helpers/gateway.js';
import { freePort, stopChild, tailBuffer, waitForHttp } from '../helpers/server-process.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const AUTH = 'Basic ' + Buffer.from('admin:admin-pw').toString('base64');

interface Serve { child: ChildProcess; port: number; url: string; output: ReturnType<typeof tailBuffer>; exited: Promise<number | null> }

async function startServe(dir: string, port: number, timeouts: Record<string, number>): Promise<Serve> {
  const config = join(dir, 'davcrypt.yaml');
  await writeFile(config, JSON.stringify({
    server: { host: '127.0.0.1', port },
    dataDir: join(dir, 'data'),
    mounts: [{ path: '/', backend: { type: 'local', root: join(dir, 'storage', '{user}') } }],
    keys: { argon2: TEST_ARGON2 },
    timeouts,
    log: { level: 'info', json: true },
  }));
  const output = tailBuffer(256 * 1024);
  const child = spawn(process.execPath, [DAVCRYPT_BIN, 'serve', '--config', config], {
    cwd: dir, env: { ...process.env, DAVCRYPT_ADMIN_PASSWORD: 'admin-pw', DAVCRYPT_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => output.push(c));
  child.stderr!.on('data', (c: Buffer) => output.push(c));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitForHttp(port, child, 60_000, () => output.text());
  return { child, port, url: `http://127.0.0.1:${port}/`, output, exited };
}

async function put(url: string, path: string, body: Buffer): Promise<number> {
  const res = await request(new URL(path, url), { method: 'PUT', body, headers: { authorization: AUTH, 'content-length': String(body.length) } });
  await res.body.dump();
  return res.statusCode;
}

async function get(url: string, path: string): Promise<{ status: number; body: Buffer }> {
  const res = await request(new URL(path, url), { headers: { authorization: AUTH } });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

/** A PUT sent slowly over a raw socket: `chunkBytes` every `everyMs`; resolves with the status line ('' when cut). */
function slowPut(port: number, path: string, body: Buffer, chunkBytes: number, everyMs: number): { answer: Promise<string>; sent: () => number; socket: net.Socket } {
  const socket = net.connect(port, '127.0.0.1');
  let sent = 0;
  let stopped = false;
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => { text += c.toString('latin1'); if (text.includes('\r\n')) { stopped = true; resolve(text.split('\r\n')[0]!); } });
    socket.on('close', () => { stopped = true; resolve(text.split('\r\n')[0] ?? ''); });
    socket.on('error', () => undefined);
  });
  socket.once('connect', async () => {
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: ${body.length}\r\n\r\n`);
    while (sent < body.length && !stopped) {
      const piece = body.subarray(sent, sent + chunkBytes);
      socket.write(piece);
      sent += piece.length;
      await sleep(everyMs);
    }
  });
  return { answer, sent: () => sent, socket };
}

const tempsIn = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.davcrypt-tmp-'));

describe('process faults of davcrypt serve', () => {
  let tmp: TempDir;
  let serve: Serve | undefined;
  beforeEach(async () => { tmp = await makeTempDir('faults-process'); });
  afterEach(async () => {
    if (serve) await stopChild(serve.child);
    serve = undefined;
    await tmp.cleanup();
  });

  it('SIGTERM mid-upload: no new connections, the upload finishes (204), exit 0', async () => {
    serve = await startServe(tmp.path, await freePort(), { shutdownSeconds: 20 });
    expect(await put(serve.url, '/f.bin', patternBytes(100_000, 1))).toBe(201);
    const body = patternBytes(4 * 1024 * 1024, 2);
    const upload = slowPut(serve.port, '/f.bin', body, 256 * 1024, 100);
    await sleep(400);
    const termAt = Date.now();
    serve.child.kill('SIGTERM');
    await sleep(300);
    const fresh = await request(serve.url, { method: 'OPTIONS' }).then((r) => `HTTP ${r.statusCode}`, (err: Error & { code?: string }) => err.code ?? err.message);
    const status = await upload.answer;
    const uploadDoneMs = Date.now() - termAt;
    const code = await serve.exited;
    const exitMs = Date.now() - termAt;
    console.log(`[faults] SIGTERM mid-upload: upload answered "${status}" ${uploadDoneMs} ms after SIGTERM; new connection: ${fresh}; exit ${code} after ${exitMs} ms`);
    expect(status).toBe('HTTP/1.1 204 No Content');
    expect(fresh).toBe('ECONNREFUSED');
    expect(code).toBe(0);
    expect(serve.output.text()).toMatch(/"message":"shutting down"/);
    expect(serve.output.text()).toMatch(/"message":"stopped"/);
    // The new version is what the restarted gateway serves.
    serve = await startServe(tmp.path, await freePort(), {});
    const back = await get(serve.url, '/f.bin');
    expect(back.body.equals(body)).toBe(true);
  }, 90_000);

  it('SIGTERM with an upload longer than timeouts.shutdownSeconds: cut at the bound, old version intact', async () => {
    serve = await startServe(tmp.path, await freePort(), { shutdownSeconds: 1 });
    const old = patternBytes(100_000, 5);
    expect(await put(serve.url, '/g.bin', old)).toBe(201);
    const upload = slowPut(serve.port, '/g.bin', patternBytes(8 * 1024 * 1024, 6), 64 * 1024, 100);
    await sleep(300);
    const termAt = Date.now();
    serve.child.kill('SIGTERM');
    const code = await serve.exited;
    const exitMs = Date.now() - termAt;
    const status = await upload.answer;
    console.log(`[faults] SIGTERM past the grace bound (1 s): upload "${status || 'cut'}", exit ${code} after ${exitMs} ms`);
    expect(code).toBe(0);
    expect(exitMs).toBeGreaterThanOrEqual(900);
    expect(exitMs).toBeLessThan(5_000);
    expect(upload.sent()).toBeLessThan(8 * 1024 * 1024);
    expect(serve.output.text()).toMatch(/cutting requests still in flight/);
    serve = await startServe(tmp.path, await freePort(), {});
    expect((await get(serve.url, '/g.bin')).body.equals(old)).toBe(true);
  }, 90_000);

  it('SIGKILL mid-PUT, then restart: the hidden temp file is removed, the old version stays', async () => {
    const port = await freePort();
    serve = await startServe(tmp.path, port, { uploadIdleSeconds: 1 });
    const old = patternBytes(50_000, 8);
    expect(await put(serve.url, '/h.bin', old)).toBe(201);
    const home = join(tmp.path, 'storage', 'admin');
    const rawBefore = await readFile(join(home, 'h.bin'));
    const upload = slowPut(serve.port, '/h.bin', patternBytes(9 * 1024 * 1024, 9), 256 * 1024, 50);
    while (upload.sent() < 2 * 1024 * 1024) await sleep(20);
    serve.child.kill('SIGKILL');
    await serve.exited;
    await upload.answer;
    const left = await tempsIn(home);
    console.log(`[faults] SIGKILL mid-PUT: temp files left: ${left.length}`);
    expect(left.length).toBe(1);
    expect((await readFile(join(home, 'h.bin'))).equals(rawBefore)).toBe(true);
    const restartAt = Date.now();
    serve = await startServe(tmp.path, port, { uploadIdleSeconds: 1 });
    while ((await tempsIn(home)).length > 0 && Date.now() - restartAt < 15_000) await sleep(100);
    const removedMs = Date.now() - restartAt;
    console.log(`[faults] restart after SIGKILL: temp removed ${removedMs} ms after the restart began (min age 2 x uploadIdleSeconds)`);
    expect(await tempsIn(home)).toEqual([]);
    await sleep(300); // info lines leave in batches, at most 100 ms late
    expect(serve.output.text()).toMatch(/removed temp files left by an interrupted write/);
    expect((await get(serve.url, '/h.bin')).body.equals(old)).toBe(true);
  }, 90_000);
});
