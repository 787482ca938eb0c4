// Share links over plain HTTP: a read link to a file with password, expiry and download
// limit (curl-style Basic password and a form POST), the store holding neither token nor
// key, revoke; folder links for read (WebDAV mount: PROPFIND, GET, no writes), file drop
// (add only, nothing listed or read, no overwrite) and read-write; expiry required; the
// audit events (create, use, failed password, revoke) without tokens.
import diagnostics from 'node:diagnostics_channel';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { webSignIn, type WebSession } from '../helpers/web.js';

let gw: TestGateway;
let s: WebSession;
const events: Record<string, unknown>[] = [];
const onShare = (m: unknown) => events.push(m as Record<string, unknown>);
const body = randomBytes(70_000);
const logLines: string[] = [];
const tokens: string[] = [];

beforeAll(async () => {
  diagnostics.subscribe('davcrypt:share', onShare);
  const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  gw = await startTestGateway({ users: { alice: 'alice-pw-shares' }, logger });
  s = await webSignIn(gw.url, 'alice', 'alice-pw-shares');
  const auth = { authorization: gw.authHeader('alice') };
  await fetch(new URL('/report.bin', gw.url), { method: 'PUT', headers: auth, body });
  await fetch(new URL('/team/', gw.url), { method: 'MKCOL', headers: auth });
  await fetch(new URL('/team/a.txt', gw.url), { method: 'PUT', headers: auth, body: 'team file' });
  await fetch(new URL('/inbox/', gw.url), { method: 'MKCOL', headers: auth });
  await fetch(new URL('/inbox/existing.txt', gw.url), { method: 'PUT', headers: auth, body: 'secret' });
});
afterAll(async () => {
  diagnostics.unsubscribe('davcrypt:share', onShare);
  await gw?.close();
});

const url = (p: string) => new URL(p, gw.url);
const basic = (password: string) => 'Basic ' + Buffer.from(`x:${password}`).toString('base64');

async function createLink(spec: Record<string, unknown>): Promise<Response> {
  const res = await fetch(url('/.well-known/davcrypt/web/shares'), {
    method: 'POST', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify(spec),
  });
  const copy = res.clone();
  if (res.status === 201) tokens.push(((await copy.json()) as { path: string }).path.split('/').pop()!);
  return res;
}

describe('share links', () => {
  it('needs the session and its CSRF token, and an expiry', async () => {
    const noCsrf = await fetch(url('/.well-known/davcrypt/web/shares'), { method: 'POST', headers: { cookie: s.cookie, 'content-type': 'application/json' }, body: '{"path":"/report.bin","expiresInDays":1}' });
    expect(noCsrf.status).toBe(403);
    const noExpiry = await createLink({ path: '/report.bin' });
    expect(noExpiry.status).toBe(400);
  });

  it('a read link with password, expiry and download limit; revoked, it is refused', async () => {
    const res = await createLink({ path: '/report.bin', scope: 'read', expiresInDays: 2, password: 'link-pw', maxDownloads: 2 });
    expect(res.status).toBe(201);
    const link = await res.json() as { id: string; path: string; expires: number };
    const token = link.path.split('/').pop()!;
    expect(Buffer.from(token, 'base64url').length).toBe(32);
    expect(link.expires).toBeGreaterThan(Date.now() + 86_400_000);
    const stored = await gw.gateway.store.get('share:' + createHash('sha256').update(token).digest('hex')) as Record<string, unknown>;
    expect(stored.owner).toBe('alice');
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(Object.keys(stored)).not.toContain('key');

    const info = await fetch(url(`/.well-known/davcrypt/web/link/${token}`));
    expect(await info.json()).toMatchObject({ folder: false, password: true, scope: 'read' });
    const noPw = await fetch(url(link.path));
    expect(noPw.status).toBe(401);
    expect(noPw.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await fetch(url(link.path), { headers: { authorization: basic('nope') } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(url(link.path), { headers: { authorization: basic('link-pw') } });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(body)).toBe(true);
    const form = await fetch(url(link.path), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'password=link-pw' });
    expect(form.status).toBe(200);
    expect(form.headers.get('content-disposition')).toMatch(/^attachment; filename\*=UTF-8''report\.bin/);
    expect(Buffer.from(await form.arrayBuffer()).equals(body)).toBe(true);
    const third = await fetch(url(link.path), { headers: { authorization: basic('link-pw') } });
    expect(third.status).toBe(403); // download limit 2

    const list = await fetch(url('/.well-known/davcrypt/web/shares'), { headers: { cookie: s.cookie } });
    expect(await list.json()).toEqual([expect.objectContaining({ id: link.id, path: '/report.bin', downloads: 2, maxDownloads: 2, password: true })]);
    const revoke = await fetch(url(`/.well-known/davcrypt/web/shares/${link.id}`), { method: 'DELETE', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf } });
    expect(revoke.status).toBe(200);
    const after = await fetch(url(link.path), { headers: { authorization: basic('link-pw') } });
    expect(after.status).toBe(404);

    const mine = events.filter((e) => e.id === link.id).map((e) => `${e.operation}${e.action ? ':' + e.action : ''}`);
    expect(mine).toEqual(['create', 'password-failed', 'use:download', 'use:download', 'revoke']);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('link passwords are throttled per link and address', async () => {
    const link = await (await createLink({ path: '/report.bin', expiresInDays: 1, password: 'right' })).json() as { path: string };
    const statuses: number[] = [];
    for (let i = 0; i < 15 && !statuses.includes(429); i++) {
      statuses.push((await fetch(url(link.path), { headers: { authorization: 'Basic ' + Buffer.from(':guess' + i).toString('base64') } })).status);
    }
    expect(statuses[0]).toBe(401);
    expect(statuses).toContain(429);
  });

  it('a read link to a folder mounts read-only over WebDAV', async () => {
    const link = await (await createLink({ path: '/team', scope: 'read', expiresInDays: 1 })).json() as { path: string };
    const propfind = await fetch(url(link.path + '/'), { method: 'PROPFIND', headers: { depth: '1' } });
    expect(propfind.status).toBe(207);
    const xml = await propfind.text();
    expect(xml).toContain('a.txt');
    expect(xml).not.toContain('report.bin');
    expect(await (await fetch(url(link.path + '/a.txt'))).text()).toBe('team file');
    const put = await fetch(url(link.path + '/b.txt'), { method: 'PUT', body: 'x' });
    expect(put.status).toBe(403);
    const del = await fetch(url(link.path + '/a.txt'), { method: 'DELETE' });
    expect(del.status).toBe(403);
    const escape = await fetch(url(link.path + '/%2e%2e/report.bin'));
    expect([400, 404]).toContain(escape.status); // never the owner's file outside the shared folder
  });

  it('a file drop adds files, lists and reads nothing, never overwrites', async () => {
    const link = await (await createLink({ path: '/inbox', scope: 'drop', expiresInDays: 1 })).json() as { path: string };
    const put = await fetch(url(link.path + '/dropped.txt'), { method: 'PUT', body: 'from a stranger' });
    expect(put.status).toBe(201);
    const again = await fetch(url(link.path + '/existing.txt'), { method: 'PUT', body: 'overwrite attempt' });
    expect(again.status).toBe(409);
    const read = await fetch(url(link.path + '/existing.txt'));
    expect([403, 404]).toContain(read.status);
    const list = await fetch(url(link.path + '/'), { method: 'PROPFIND', headers: { depth: '1' } });
    expect(await list.text()).not.toContain('existing.txt');
    const owner = await fetch(url('/inbox/dropped.txt'), { headers: { authorization: gw.authHeader('alice') } });
    expect(await owner.text()).toBe('from a stranger');
    expect(await (await fetch(url('/inbox/existing.txt'), { headers: { authorization: gw.authHeader('alice') } })).text()).toBe('secret');
  });

  it('a read-write link changes only inside its folder', async () => {
    const link = await (await createLink({ path: '/team', scope: 'readwrite', expiresInDays: 1 })).json() as { path: string };
    expect((await fetch(url(link.path + '/new.txt'), { method: 'PUT', body: 'rw' })).status).toBe(201);
    expect((await fetch(url(link.path + '/new.txt'), { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(url(link.path + '/'), { method: 'DELETE' })).status).toBe(403);
  });

  it('logs share requests by link id, never a token, password or session id', () => {
    const all = logLines.join('\n');
    expect(all).toContain('/.well-known/davcrypt/s/(link ');
    expect(tokens.length).toBeGreaterThan(3);
    for (const secret of [...tokens, 'link-pw', 'alice-pw-shares', s.cookie.split('=')[1]!, s.csrf]) expect(all).not.toContain(secret);
  });
});
