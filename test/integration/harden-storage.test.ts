// [harden] Files and folders the gateway creates on local storage are 0600/0700 even
// under a permissive umask: the keyring holds password envelopes, and ciphertext
// sizes/names are nobody else's business on a shared host.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let oldUmask: number;
beforeAll(async () => {
  oldUmask = process.umask(0); // the worst case: nothing masked
  gw = await startTestGateway({ users: { alice: 'alice-pw' } });
});
afterAll(async () => {
  process.umask(oldUmask);
  await gw.close();
});

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

describe('local storage permissions (umask 0)', () => {
  it('home, keyring, files, folders and copies are private to the gateway user', async () => {
    const auth = gw.authHeader('alice');
    expect((await gatewayRequest(gw, 'PUT', '/secret.txt', { auth, body: 'x' })).status).toBe(201);
    expect((await gatewayRequest(gw, 'MKCOL', '/dir', { auth })).status).toBe(201);
    expect((await gatewayRequest(gw, 'PUT', '/dir/inner.txt', { auth, body: 'y' })).status).toBe(201);
    const copy = await fetch(new URL('/dir/inner.txt', gw.url), { method: 'COPY', headers: { authorization: auth, destination: new URL('/copy.txt', gw.url).href } });
    expect(copy.status).toBe(201);
    const home = join(gw.storageRoot, 'alice');
    expect(await modeOf(home)).toBe(0o700);
    expect(await modeOf(join(home, 'dir'))).toBe(0o700);
    expect(await modeOf(join(home, '.davcrypt'))).toBe(0o700);
    expect(await modeOf(join(home, '.davcrypt', 'keyring.json'))).toBe(0o600);
    for (const f of ['secret.txt', 'dir/inner.txt', 'copy.txt']) expect(await modeOf(join(home, f)), f).toBe(0o600);
    expect((await readdir(home)).sort()).toEqual(['.davcrypt', 'copy.txt', 'dir', 'secret.txt']);
  });
});
