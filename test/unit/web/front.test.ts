// The browser front's cookie over TLS (Secure, the __Host- prefix) and the session
// store's at-rest form, with a stub authenticator and an in-memory store: no gateway.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Keyv from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging.js';
import { createWebFront } from '../../../src/web/index.js';

let server: http.Server;
let base: string;

beforeAll(async () => {
  const front = createWebFront({
    store: new Keyv(),
    logger: createLogger({ silent: true }),
    secure: true,
    clientAddress: () => '127.0.0.1',
    authenticator: {
      signIn: async (user, password) => {
        if (password !== 'pw') throw Object.assign(new Error('no'), { code: 'DC_ERR_UNAUTHORIZED', name: 'DavcryptError' });
        return { user: { name: user }, privateKey: Buffer.alloc(32, 1), accountVersion: 'v1' };
      },
      resumeSession: async (user) => ({ name: user }),
      accountUnchanged: async () => true,
    },
  });
  server = http.createServer((req, res) => {
    front.handle(req, res, new AbortController().signal).then((done) => { if (!done) res.writeHead(404).end(); }, () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('web front cookie', () => {
  it('is Secure with the __Host- prefix when the gateway serves TLS', async () => {
    const res = await fetch(base + '/.well-known/davcrypt/web/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice","password":"pw"}' });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^__Host-davcrypt=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  });
});
