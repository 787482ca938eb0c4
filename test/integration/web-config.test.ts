// `web.enabled: false` leaves browsers the bare WebDAV folder index (no page, no sign-in);
// `web.shares: false` keeps the page but answers no share API or link.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { webSignIn } from '../helpers/web.js';

let gw: TestGateway | undefined;
afterEach(async () => { await gw?.close(); gw = undefined; });

describe('web config', () => {
  it('web.enabled: false serves no page and no sign-in', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw-config' }, config: { web: { enabled: false } } });
    const page = await fetch(new URL('/', gw.url), { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toMatch(/^Basic/);
    const login = await fetch(new URL('/.well-known/davcrypt/web/login', gw.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice","password":"alice-pw-config"}' });
    expect(login.status).toBe(401);
    expect(login.headers.get('set-cookie')).toBeNull();
  });

  it('web.shares: false keeps sign-in but refuses the share API', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw-config' }, config: { web: { shares: false } } });
    const s = await webSignIn(gw.url, 'alice', 'alice-pw-config');
    const res = await fetch(new URL('/.well-known/davcrypt/web/shares', gw.url), {
      method: 'POST', headers: { cookie: s.cookie, 'x-davcrypt-csrf': s.csrf, 'content-type': 'application/json' }, body: '{"path":"/","expiresInDays":1}',
    });
    expect(res.status).toBe(404);
  });
});
