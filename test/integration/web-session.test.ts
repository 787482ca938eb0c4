// The browser front over plain HTTP: the page shell and its CSP, sign-in (JSON only,
// same origin, throttled, no Basic challenge), the session cookie's flags, CSRF on every
// state-changing WebDAV method, sessions that survive a gateway restart (a second process
// reading the same store), the store holding no session id, sign-out, and WebDAV/Basic
// answers unchanged.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ensureBrowserBuilt, webSignIn } from '../helpers/web.js';

let gw: TestGateway;
const PASSWORD = 'alice-web-password';

beforeAll(async () => {
  ensureBrowserBuilt();
  gw = await startTestGateway({ users: { alice: PASSWORD } });
});
afterAll(async () => gw?.close());

const url = (p: string) => new URL(p, gw.url);

describe('web page', () => {
  it('serves the shell to a browser GET of a folder, with a strict CSP and no inline script', async () => {
    const res = await fetch(url('/'), { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await res.text();
    expect(html).toMatch(/<script type="module" src="\/\.well-known\/davcrypt\/web\/app\.js"><\/script>/);
    expect(html.match(/<script\b[^>]*>/g)!.every((tag) => / src="/.test(tag))).toBe(true);
    const js = await fetch(url('/.well-known/davcrypt/web/app.js'));
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain("from './dom.js'");
    const dom = await fetch(url('/.well-known/davcrypt/web/dom.js'));
    expect(await dom.text()).toContain('X-Davcrypt-Csrf');
    expect((await fetch(url('/.well-known/davcrypt/web/assets.js'))).status).toBe(404); // only the page's modules are served
  });

  it('leaves WebDAV and Basic clients unchanged', async () => {
    const noAccept = await fetch(url('/'));
    expect(noAccept.status).toBe(401);
    expect(noAccept.headers.get('www-authenticate')).toMatch(/^Basic/);
    const basic = await fetch(url('/'), { headers: { accept: 'text/html', authorization: gw.authHeader('alice') } });
    expect(basic.status).toBe(200);
    expect(await basic.text()).not.toContain('app.js');
  });
});

describe('sign-in and session cookie', () => {
  it('refuses a wrong password with 401 and no Basic challenge', async () => {
    const res = await fetch(url('/.well-known/davcrypt/web/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'nope' }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('refuses a form post and a cross-site origin (login CSRF)', async () => {
    const form = await fetch(url('/.well-known/davcrypt/web/login'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user=alice&password=${PASSWORD}` });
    expect(form.status).toBe(415);
    const cross = await fetch(url('/.well-known/davcrypt/web/login'), { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: JSON.stringify({ user: 'alice', password: PASSWORD }) });
    expect(cross.status).toBe(403);
  });

  it('sets an HttpOnly SameSite=Strict cookie whose id the store never holds, and checks CSRF on changes', async () => {
    const s = await webSignIn(gw.url, 'alice', PASSWORD);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).not.toMatch(/Secure/); // plain http on 127.0.0.1
    const id = s.cookie.split('=')[1]!;
    expect(Buffer.from(id, 'base64url').length).toBe(32);
    const stored = await gw.gateway.store.get('websession:' + createHash('sha256').update(id).digest('hex')) as Record<string, unknown>;
    expect(stored.user).toBe('alice');
    expect(JSON.stringify(stored)).not.toContain(id);
    expect(await gw.gateway.store.get('websession:' + id)).toBeUndefined();

    const noCsrf = await fetch(url('/web.txt'), { method: 'PUT', headers: { cookie: s.cookie }, body: 'hello' });
    expect(noCsrf.status).toBe(403);
    const wrongCsrf = await fetch(url('/web.txt'), { method: 'PUT', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf.slice(0, -1) + (s.csrf.endsWith('A') ? 'B' : 'A') }, body: 'hello' });
    expect(wrongCsrf.status).toBe(403);
    const put = await fetch(url('/web.txt'), { method: 'PUT', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf }, body: 'hello web' });
    expect(put.status).toBe(201);
    const get = await fetch(url('/web.txt'), { headers: { cookie: s.cookie } });
    expect(await get.text()).toBe('hello web');
    const propfindNoCsrf = await fetch(url('/'), { method: 'PROPFIND', headers: { cookie: s.cookie, depth: '1' } });
    expect(propfindNoCsrf.status).toBe(403);
    const propfind = await fetch(url('/'), { method: 'PROPFIND', headers: { cookie: s.cookie, depth: '1', 'x-davcrypt-csrf': s.csrf } });
    expect(propfind.status).toBe(207);
    expect(await propfind.text()).toContain('web.txt');
    const who = await fetch(url('/.well-known/davcrypt/web/session'), { headers: { cookie: s.cookie } });
    expect(await who.json()).toEqual({ user: 'alice', csrf: s.csrf });
  });

  it('an unknown session gets 401 without a Basic challenge', async () => {
    const res = await fetch(url('/web.txt'), { headers: { cookie: 'davcrypt_session=' + Buffer.alloc(32, 7).toString('base64url') } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });

  it('a session survives a restart (another process with the same store) and ends at sign-out', async () => {
    const s = await webSignIn(gw.url, 'alice', PASSWORD);
    await gw.restart();
    const get = await fetch(url('/web.txt'), { headers: { cookie: s.cookie } });
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('hello web');
    const outNoCsrf = await fetch(url('/.well-known/davcrypt/web/logout'), { method: 'POST', headers: { cookie: s.cookie } });
    expect(outNoCsrf.status).toBe(403);
    const out = await fetch(url('/.well-known/davcrypt/web/logout'), { method: 'POST', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    const after = await fetch(url('/web.txt'), { headers: { cookie: s.cookie } });
    expect(after.status).toBe(401);
  });

  it('sign-in failures go through the login throttle', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(url('/.well-known/davcrypt/web/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mallory', password: 'guess' + i }) });
      statuses.push(res.status);
      if (res.status === 429) break;
    }
    expect(statuses).toContain(429);
  });

  it('a password change ends browser sessions (seen by a process that resumes the session)', async () => {
    const s = await webSignIn(gw.url, 'alice', PASSWORD);
    expect((await fetch(url('/web.txt'), { headers: { cookie: s.cookie } })).status).toBe(200);
    await gw.gateway.users.accounts.passwd('alice', PASSWORD, PASSWORD + '-new');
    await gw.restart();
    const after = await fetch(url('/web.txt'), { headers: { cookie: s.cookie } });
    expect(after.status).toBe(401);
  });
});
