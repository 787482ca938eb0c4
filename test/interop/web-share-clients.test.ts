// Share links from the command line, as README "In a browser, and sharing a link" shows
// them: curl downloads a file link (with and without its password) and uploads into a
// file drop; rclone lists and copies a folder link as a read-only WebDAV remote and is
// refused a write. Skips (printing why) without curl or rclone.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rcloneAvailable } from '../helpers/rclone.js';
import { webSignIn, type WebSession } from '../helpers/web.js';

const missing = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'curl not installed' : rcloneAvailable();
if (missing) console.warn(`skipping share link client tests: ${missing}`);

let gw: TestGateway;
let s: WebSession;
let dir: string;

async function link(spec: Record<string, unknown>): Promise<string> {
  const res = await fetch(new URL('/.well-known/davcrypt/web/shares', gw.url), {
    method: 'POST', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ expiresInDays: 1, ...spec }),
  });
  expect(res.status).toBe(201);
  return new URL(((await res.json()) as { path: string }).path, gw.url).href;
}

/** Runs a client as a child process without blocking the event loop (the gateway runs in this process). */
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', env: { ...process.env, RCLONE_CONFIG: join(dir, 'rclone.conf') }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: unknown }).code as number | null) ?? 1 : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!!missing)('share links with curl and rclone', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'davcrypt-share-clients-'));
    await writeFile(join(dir, 'rclone.conf'), '');
    gw = await startTestGateway({ users: { alice: 'alice-pw-clients' } });
    s = await webSignIn(gw.url, 'alice', 'alice-pw-clients');
    const auth = { authorization: gw.authHeader('alice') };
    await fetch(new URL('/report.txt', gw.url), { method: 'PUT', headers: auth, body: 'quarterly report\n' });
    await fetch(new URL('/team/', gw.url), { method: 'MKCOL', headers: auth });
    await fetch(new URL('/team/a.txt', gw.url), { method: 'PUT', headers: auth, body: 'team a' });
    await fetch(new URL('/inbox/', gw.url), { method: 'MKCOL', headers: auth });
  });
  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('curl downloads a file link, with and without a password, and drops a file', async () => {
    const open = await link({ path: '/report.txt' });
    expect((await run('curl', ['-sSf', '-o', join(dir, 'r1.txt'), open])).status).toBe(0);
    expect(await readFile(join(dir, 'r1.txt'), 'utf8')).toBe('quarterly report\n');
    const locked = await link({ path: '/report.txt', password: 'pw-for-link' });
    expect((await run('curl', ['-sSf', '-o', join(dir, 'r2.txt'), locked])).status).not.toBe(0);
    expect((await run('curl', ['-sSf', '-u', ':pw-for-link', '-o', join(dir, 'r2.txt'), locked])).status).toBe(0);
    expect(await readFile(join(dir, 'r2.txt'), 'utf8')).toBe('quarterly report\n');
    const drop = await link({ path: '/inbox', scope: 'drop' });
    await writeFile(join(dir, 'upload.txt'), 'dropped by curl');
    expect((await run('curl', ['-sSf', '-T', join(dir, 'upload.txt'), drop + '/'])).status).toBe(0);
    const owner = await fetch(new URL('/inbox/upload.txt', gw.url), { headers: { authorization: gw.authHeader('alice') } });
    expect(await owner.text()).toBe('dropped by curl');
  });

  it('rclone lists and copies a folder link and cannot write to it', async () => {
    const folder = await link({ path: '/team' });
    const remote = [':webdav:', '--webdav-url', folder + '/'];
    const lsf = await run('rclone', ['lsf', ...remote]);
    expect(lsf.status).toBe(0);
    expect(lsf.stdout.trim()).toBe('a.txt');
    expect((await run('rclone', ['copy', ...remote, join(dir, 'copy')])).status).toBe(0);
    expect(await readFile(join(dir, 'copy', 'a.txt'), 'utf8')).toBe('team a');
    await writeFile(join(dir, 'new.txt'), 'x');
    const write = await run('rclone', ['copyto', join(dir, 'new.txt'), ':webdav:new.txt', '--webdav-url', folder + '/', '--retries', '1', '--low-level-retries', '1']);
    expect(write.status).not.toBe(0);
  });
});
