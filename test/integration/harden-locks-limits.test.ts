// [harden] A malicious co-user of a shared mount, and anyone sending oversized
// WebDAV requests: locks belong to whoever took them (RFC 4918 §6.4: another
// member's token neither writes through nor refreshes, and her UNLOCK is 403), and
// dead properties, property values, locks per user, property names per PROPFIND and
// Depth: infinity are bounded with a clear 4xx naming the limit.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    users: { alice: 'alice-pw', bob: 'bob-pw' },
    mounts: [
      { path: '/', encrypt: true, backend: { type: 'local', root: './storage/{user}' } },
      { path: '/team', encrypt: true, users: ['alice', 'bob'], backend: { type: 'local', root: './team' } },
    ],
    config: { server: { limits: { deadPropsPerResource: 5, deadPropBytesPerResource: 4096, deadPropBytesPerMount: 8192, propValueBytes: 1024, lockOwnerBytes: 512, locksPerUser: 3, propfindProps: 50 } } },
  });
});
afterAll(async () => { await gw.close(); });

async function dav(user: 'alice' | 'bob', method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await request(new URL(path, gw.url), { method: method as 'GET', headers: { authorization: gw.authHeader(user), ...headers }, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

const LOCK = (owner = 'me') => `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
const tokenOf = (r: { headers: Record<string, unknown> }) => String(r.headers['lock-token']).replace(/^<|>$/g, '');
const proppatch = (props: string) => `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${props}</D:prop></D:set></D:propertyupdate>`;

describe('locks belong to their owner (shared mount, two users)', () => {
  it("bob cannot write through, refresh or UNLOCK alice's lock, even with her token", async () => {
    expect((await dav('alice', 'PUT', '/team/plan.txt', {}, 'alice v1')).status).toBe(201);
    const lock = await dav('alice', 'LOCK', '/team/plan.txt', { timeout: 'Second-600' }, LOCK());
    expect(lock.status).toBe(200);
    const token = tokenOf(lock);
    expect(token).toMatch(/^opaquelocktoken:/);
    // The token is visible to every member (lockdiscovery); it must not be a capability.
    const disc = await dav('bob', 'PROPFIND', '/team/plan.txt', { depth: '0' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>');
    expect(disc.text).toContain(token);
    const ifHdr = { if: `(<${token}>)` };
    expect((await dav('bob', 'PUT', '/team/plan.txt', ifHdr, 'bob was here')).status).toBe(412);
    expect((await dav('bob', 'PUT', '/team/plan.txt', { if: `(<${token}>) (Not <DAV:no-lock>)` }, 'bob was here')).status).toBe(423);
    expect((await dav('bob', 'DELETE', '/team/plan.txt', ifHdr)).status).toBe(412);
    expect((await dav('bob', 'LOCK', '/team/plan.txt', { ...ifHdr, timeout: 'Second-3600' })).status).toBe(412);
    expect((await dav('bob', 'UNLOCK', '/team/plan.txt', { 'lock-token': `<${token}>` })).status).toBe(403);
    expect((await dav('alice', 'GET', '/team/plan.txt')).text).toBe('alice v1');
    // The owner still can.
    expect((await dav('alice', 'PUT', '/team/plan.txt', ifHdr, 'alice v2')).status).toBe(204);
    expect((await dav('alice', 'UNLOCK', '/team/plan.txt', { 'lock-token': `<${token}>` })).status).toBe(204);
    expect((await dav('bob', 'PUT', '/team/plan.txt', {}, 'bob v3')).status).toBe(204);
  });
});

describe('bounded everything (server.limits)', () => {
  it('dead properties: count and bytes per resource, and one value, refused with 403 DC_ERR_LIMIT_EXCEEDED', async () => {
    await dav('alice', 'PUT', '/props.txt', {}, 'x');
    const five = [0, 1, 2, 3, 4].map((i) => `<Z:p${i}>v</Z:p${i}>`).join('');
    expect((await dav('alice', 'PROPPATCH', '/props.txt', {}, proppatch(five))).status).toBe(207);
    const sixth = await dav('alice', 'PROPPATCH', '/props.txt', {}, proppatch('<Z:p5>v</Z:p5>'));
    expect(sixth.status).toBe(403);
    expect(sixth.text).toMatch(/^DC_ERR_LIMIT_EXCEEDED: .*server\.limits\.deadPropsPerResource/);
    expect((await dav('alice', 'PROPPATCH', '/props.txt', {}, proppatch('<Z:p0>changed</Z:p0>'))).status).toBe(207); // replacing is fine
    const big = await dav('alice', 'PROPPATCH', '/props.txt', {}, proppatch(`<Z:big>${'a'.repeat(2000)}</Z:big>`));
    expect(big.status).toBe(403);
    expect(big.text).toContain('server.limits.propValueBytes');
    await dav('alice', 'PUT', '/props2.txt', {}, 'x');
    const four = [0, 1, 2, 3, 4].map((i) => `<Z:q${i}>${'b'.repeat(900)}</Z:q${i}>`).join('');
    const bytes = await dav('alice', 'PROPPATCH', '/props2.txt', {}, proppatch(four));
    expect(bytes.status).toBe(403);
    expect(bytes.text).toContain('server.limits.deadPropBytesPerResource');
    // Nothing of a refused PROPPATCH was stored.
    const pf = await dav('alice', 'PROPFIND', '/props2.txt', { depth: '0' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>');
    expect(pf.text).not.toContain('q0');
    // Many resources each under their own bound still cannot grow the mount's entry past its bound.
    let refused;
    for (let i = 0; i < 10 && !refused; i++) {
      await dav('alice', 'PUT', `/many${i}.txt`, {}, 'x');
      const r = await dav('alice', 'PROPPATCH', `/many${i}.txt`, {}, proppatch(`<Z:m>${'c'.repeat(900)}</Z:m><Z:n>${'d'.repeat(900)}</Z:n>`));
      if (r.status !== 207) refused = r;
    }
    expect(refused?.status).toBe(403);
    expect(refused?.text).toContain('server.limits.deadPropBytesPerMount');
  });

  it('locks per user (per mount), and a huge lock owner', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      await dav('bob', 'PUT', `/team/l${i}.txt`, {}, 'x');
      const r = await dav('bob', 'LOCK', `/team/l${i}.txt`, {}, LOCK());
      expect(r.status).toBe(200);
      tokens.push(tokenOf(r));
    }
    await dav('bob', 'PUT', '/team/l3.txt', {}, 'x');
    const fourth = await dav('bob', 'LOCK', '/team/l3.txt', {}, LOCK());
    expect(fourth.status).toBe(403);
    expect(fourth.text).toContain('server.limits.locksPerUser');
    expect((await dav('alice', 'LOCK', '/team/l3.txt', {}, LOCK())).status).toBe(200); // alice has her own count
    const owner = await dav('alice', 'LOCK', '/lo.txt', {}, LOCK(`<D:href>${'o'.repeat(2000)}</D:href>`));
    expect(owner.status).toBe(403);
    expect(owner.text).toContain('server.limits.lockOwnerBytes');
    for (const [i, t] of tokens.entries()) expect((await dav('bob', 'UNLOCK', `/team/l${i}.txt`, { 'lock-token': `<${t}>` })).status).toBe(204);
  });

  it('a PROPFIND naming too many properties is refused before any work; Depth infinity gets propfind-finite-depth', async () => {
    const names = Array.from({ length: 80 }, (_, i) => `<Z:n${i}/>`).join('');
    const r = await dav('alice', 'PROPFIND', '/', { depth: '1' }, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop>${names}</D:prop></D:propfind>`);
    expect(r.status).toBe(403);
    expect(r.text).toContain('server.limits.propfindProps');
    const inf = await dav('alice', 'PROPFIND', '/', { depth: 'infinity' });
    expect(inf.status).toBe(403);
    expect(inf.text).toContain('propfind-finite-depth');
  });

  it('the XML body size limit answers 413', async () => {
    const r = await dav('alice', 'PROPFIND', '/', { depth: '0' }, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><!-- ${'x'.repeat(1024 * 1024 + 10)} --><D:allprop/></D:propfind>`);
    expect(r.status).toBe(413);
  });
});
