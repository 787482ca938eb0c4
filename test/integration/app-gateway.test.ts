// The composed gateway (startGateway via test/helpers/gateway.ts) end to end over
// HTTP on 127.0.0.1: encrypted homes, the keyring escrow on the backend, the
// login cache, lost-store recovery, shared mounts, password changes.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openIdentity, highestKey, parseKeyring } from '../../src/crypto/index.js';
import { gatewayRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** The current key of a keyring the gateway wrote (format 2: highest sequence number). */
const currentOfRing = (k: { keys: { id: string; seq: number }[] }): string => highestKey(k.keys)!.id;


function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

const put = async (gw: TestGateway, path: string, body: string, auth: string): Promise<number> => (await gatewayRequest(gw, 'PUT', path, { auth, body })).status;

async function get(gw: TestGateway, path: string, auth: string): Promise<{ status: number; text: string }> {
  const { status, body } = await gatewayRequest(gw, 'GET', path, { auth });
  return { status, text: body.toString('utf8') };
}

describe('composed gateway', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('refuses a wrong password with 401 and caches a good login (one argon2 for many requests)', async () => {
    gw = await startTestGateway({ users: { alice: 'pw: ü+/' }, encrypt: false });
    const bad = await get(gw, '/x', basic('alice', 'nope'));
    expect(bad.status).toBe(401);
    const before = gw.gateway.users.authenticator.stats().argon2;
    for (let i = 0; i < 5; i++) expect([200, 404]).toContain((await get(gw, '/missing', gw.authHeader('alice'))).status);
    expect(gw.gateway.users.authenticator.stats().argon2).toBe(before + 1);
    expect(gw.gateway.users.authenticator.stats().cached).toBeGreaterThanOrEqual(4);
  });

  it('throttles a password guesser with 429', async () => {
    gw = await startTestGateway({ encrypt: false, config: { auth: { throttle: { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 30 } } } });
    for (let i = 0; i < 3; i++) expect((await get(gw, '/', basic('alice', `guess${i}`))).status).toBe(401);
    expect((await get(gw, '/', gw.authHeader('alice'))).status).toBe(429);
  });

  it('stores ciphertext and writes a keyring the password opens', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    expect(await put(gw, '/hello.txt', 'hello world', gw.authHeader())).toBeLessThan(300);
    expect(await get(gw, '/hello.txt', gw.authHeader())).toEqual({ status: 200, text: 'hello world' });
    const raw = await readFile(join(gw.storageRoot, 'alice', 'hello.txt'));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    expect(raw.includes(Buffer.from('hello world'))).toBe(false);
    const keyring = parseKeyring(await readFile(join(gw.storageRoot, 'alice', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(keyring.keys).toHaveLength(1);
    expect(keyring.keys[0]!.wraps.map((w) => w.to)).toEqual(['user:alice']);
    expect(raw.subarray(10, 26).toString('hex')).toBe(currentOfRing(keyring)); // file header names the key
    const priv = await openIdentity(keyring.identities['user:alice']!.envelope!, 'user:alice', 'alice-pw');
    expect(priv).toHaveLength(32);
  });

  it('lost store: restore, then same storage, same password, same key, files readable', async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
    expect(await put(gw, '/doc.txt', 'survives', gw.authHeader('alice'))).toBeLessThan(300);
    const keyringBefore = await readFile(join(gw.storageRoot, 'alice', '.davcrypt', 'keyring.json'), 'utf8');
    await gw.restart({ wipeStore: true });
    expect(existsSync(join(gw.dataDir, 'davcrypt.sqlite'))).toBe(true); // a new, empty store
    expect(await gw.gateway.users.records.get('alice')).toBeUndefined();
    expect((await get(gw, '/doc.txt', gw.authHeader('alice'))).status).toBe(401); // logins never create accounts
    const { planRestore, applyRestore } = await import('../../src/users/index.js');
    expect(await applyRestore(gw.gateway.users, await planRestore(gw.config, gw.gateway.users))).toEqual(['alice']);
    expect((await get(gw, '/doc.txt', basic('alice', 'wrong'))).status).toBe(401);
    expect(await get(gw, '/doc.txt', gw.authHeader('alice'))).toEqual({ status: 200, text: 'survives' });
    expect(await gw.gateway.users.records.get('alice')).toBeDefined();
    const keyringAfter = parseKeyring(await readFile(join(gw.storageRoot, 'alice', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(currentOfRing(keyringAfter)).toBe(currentOfRing(parseKeyring(keyringBefore)));
    // bob never logged in before the loss: no keyring of his on the backend, so he is unknown now.
    expect((await get(gw, '/', gw.authHeader('bob'))).status).toBe(401);
  });

  it('a shared mount is readable by every listed member', async () => {
    gw = await startTestGateway({
      users: { alice: 'a-pw', bob: 'b-pw', eve: 'e-pw' },
      mounts: [
        { path: '/', backend: { type: 'local', root: './storage/{user}' } },
        { path: '/team', users: ['alice', 'bob'], backend: { type: 'local', root: './team' } },
      ],
    });
    expect(await put(gw, '/team/plan.txt', 'shared plan', gw.authHeader('alice'))).toBeLessThan(300);
    expect(await get(gw, '/team/plan.txt', gw.authHeader('bob'))).toEqual({ status: 200, text: 'shared plan' });
    const raw = await readFile(join(gw.root, 'team', 'plan.txt'));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    const keyring = parseKeyring(await readFile(join(gw.root, 'team', '.davcrypt', 'keyring.json'), 'utf8'));
    expect(keyring.keys[0]!.wraps.map((w) => w.to).sort()).toEqual(['user:alice', 'user:bob']);
    expect((await get(gw, '/team/plan.txt', gw.authHeader('eve'))).status).not.toBe(200);
  });

  it('a password change takes effect on the running gateway and keeps files readable', async () => {
    gw = await startTestGateway({ users: { alice: 'old-pw' }, config: { auth: { recheckSeconds: 0 } } });
    expect(await put(gw, '/a.txt', 'before', basic('alice', 'old-pw'))).toBeLessThan(300);
    await gw.gateway.users.accounts.passwd('alice', 'old-pw', 'new-pw');
    expect((await get(gw, '/a.txt', basic('alice', 'old-pw'))).status).toBe(401);
    expect(await get(gw, '/a.txt', basic('alice', 'new-pw'))).toEqual({ status: 200, text: 'before' });
    const keyring = parseKeyring(await readFile(join(gw.storageRoot, 'alice', '.davcrypt', 'keyring.json'), 'utf8'));
    await expect(openIdentity(keyring.identities['user:alice']!.envelope!, 'user:alice', 'new-pw')).resolves.toHaveLength(32);
  });
});
