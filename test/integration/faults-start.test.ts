// Start-up faults: every one is DC_ERR_CONFIG naming the key and the fix, and leaves nothing
// behind: an unwritable initial admin password file (no account created), a port in use, a
// host that does not resolve, a TLS key that does not match its certificate, a mount whose
// storage misses its base folder or cannot be reached (a warning; a refusal with strict).
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { resolveConfig, type Config } from '../../src/config/index.js';
import { isDavcryptError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { createStore, closeStore } from '../../src/store.js';
import { UserRecords } from '../../src/users/records.js';
import { TEST_ARGON2 } from '../helpers/gateway.js';
import { freePort } from '../helpers/server-process.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const silent = createLogger({ silent: true });

function configIn(dir: string, extra: Record<string, unknown> = {}): Config {
  return resolveConfig({
    server: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    mounts: [{ path: '/', backend: { type: 'local', root: join(dir, 'storage', '{user}') } }],
    keys: { argon2: { ...TEST_ARGON2 } },
    ...extra,
  }, { cwd: dir, env: {} });
}

async function startError(config: Config, options: Parameters<typeof startGateway>[1] = {}): Promise<{ code?: string; message: string }> {
  try {
    const gw = await startGateway(config, { logger: silent, env: {}, print: () => undefined, ...options });
    await gw.close();
  } catch (err) {
    return { code: isDavcryptError(err) ? err.code : (err as NodeJS.ErrnoException).code, message: (err as Error).message };
  }
  throw new Error('the gateway started');
}

describe('start-up faults', () => {
  let tmp: TempDir;
  beforeEach(async () => { tmp = await makeTempDir('faults-start'); });
  afterEach(() => tmp.cleanup());

  it('initial admin: an unwritable password file stops the start before any account exists', async () => {
    const config = configIn(tmp.path);
    // A folder where the file should go: unwritable even for root (as a read-only or foreign-owned data dir is for others).
    await mkdir(join(config.dataDir, 'initial-admin-password'), { recursive: true });
    const err = await startError(config);
    expect(err.code).toBe('DC_ERR_CONFIG');
    expect(err.message).toContain(join(config.dataDir, 'initial-admin-password'));
    expect(err.message).toMatch(/DAVCRYPT_ADMIN_PASSWORD/);
    expect(err.message).toMatch(/no account was created/);
    const store = await createStore(config.store);
    try {
      expect(await store.get('meta:initialized')).toBeUndefined();
      expect(await new UserRecords(store).names()).toEqual([]);
    } finally {
      await closeStore(store);
    }
    // Fixed, the next start creates admin and shows the password that works.
    await import('node:fs/promises').then((fs) => fs.rm(join(config.dataDir, 'initial-admin-password'), { recursive: true }));
    const lines: string[] = [];
    const gw = await startGateway(config, { logger: silent, env: {}, print: (l) => lines.push(l) });
    try {
      expect(lines.join('\n')).toMatch(/created user admin with password/);
      expect(await gw.users.records.names()).toEqual(['admin']);
    } finally {
      await gw.close();
    }
  });

  it('a port in use is DC_ERR_CONFIG naming server.port and the fix', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startError(configIn(tmp.path, { server: { host: '127.0.0.1', port } }), { skipInitialAdmin: true });
      expect(err.code).toBe('DC_ERR_CONFIG');
      expect(err.message).toMatch(/^server\.port: 127\.0\.0\.1:\d+ is already in use; stop the other process or choose another port/);
    } finally {
      blocker.close();
    }
  });

  it('an unknown host is DC_ERR_CONFIG naming server.host', async () => {
    const err = await startError(configIn(tmp.path, { server: { host: 'no-such-host.invalid', port: 0 } }), { skipInitialAdmin: true });
    expect(err.code).toBe('DC_ERR_CONFIG');
    expect(err.message).toMatch(/^server\.host: no-such-host\.invalid (does not resolve|is not an address)/);
  });

  it('an address of another machine is DC_ERR_CONFIG naming server.host', async () => {
    const err = await startError(configIn(tmp.path, { server: { host: '192.0.2.1', port: await freePort() } }), { skipInitialAdmin: true });
    expect(err.code).toBe('DC_ERR_CONFIG');
    expect(err.message).toMatch(/^server\.host: 192\.0\.2\.1 is not an address of this machine/);
  });

  const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!hasOpenssl)('a TLS key that does not match the certificate, or a file that is no PEM, is DC_ERR_CONFIG naming server.tls', async () => {
    const make = (name: string) => {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(tmp.path, `${name}.key`), '-out', join(tmp.path, `${name}.crt`), '-days', '1', '-subj', '/CN=127.0.0.1']);
      expect(r.status).toBe(0);
    };
    make('a');
    make('b');
    const mismatch = await startError(configIn(tmp.path, { server: { host: '127.0.0.1', port: 0, tls: { cert: 'a.crt', key: 'b.key' } } }), { skipInitialAdmin: true });
    expect(mismatch.code).toBe('DC_ERR_CONFIG');
    expect(mismatch.message).toMatch(/^server\.tls: cannot use the certificate and key \(.*\); give a PEM certificate/);
    await writeFile(join(tmp.path, 'junk.crt'), 'not a certificate\n');
    const junk = await startError(configIn(tmp.path, { server: { host: '127.0.0.1', port: 0, tls: { cert: 'junk.crt', key: 'a.key' } } }), { skipInitialAdmin: true });
    expect(junk.code).toBe('DC_ERR_CONFIG');
    expect(junk.message).toMatch(/^server\.tls:/);
  });

  it('a mount whose storage is missing or unreachable is named at start: warning, or refusal with strict', async () => {
    await writeFile(join(tmp.path, 'a-file'), 'x');
    const port = await freePort(); // nothing listens there
    const config = configIn(tmp.path, {
      mounts: [
        { path: '/', backend: { type: 'local', root: join(tmp.path, 'a-file', 'storage', '{user}') } },
        { path: '/team', users: ['*'], backend: { type: 'webdav', url: `http://127.0.0.1:${port}/dav/team/` } },
      ],
      timeouts: { backendConnectSeconds: 2 },
    });
    const strict = await startError(config, { skipInitialAdmin: true, strict: true });
    expect(strict.code).toBe('DC_ERR_CONFIG');
    expect(strict.message).toMatch(/mounts\[0\]\.backend\.root: DC_ERR_NOT_FOUND: local:.*a-file\/storage\/: not a folder/);
    expect(strict.message).toMatch(/mounts\[1\]\.backend\.url: DC_ERR_BACKEND_UNAVAILABLE: webdav:http:\/\/127\.0\.0\.1:\d+\/dav\/team\/.*ECONNREFUSED.*check that the storage server runs/);

    const lines: { level: string; message: string; problem?: string }[] = [];
    const sink = new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } });
    const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const gw = await startGateway(config, { logger, skipInitialAdmin: true, env: {} });
    try {
      const warnings = lines.filter((l) => l.level === 'warn' && /mount storage not usable/.test(l.message)).map((l) => l.problem);
      expect(warnings).toHaveLength(2);
      expect(warnings.join('\n')).toMatch(/mounts\[0\]\.backend\.root/);
      expect(warnings.join('\n')).toMatch(/mounts\[1\]\.backend\.url/);
      // The health endpoint says the same, with codes only (it is public: no storage locations).
      const report = await gw.health();
      expect(report.ok).toBe(false);
      expect(report.checks['backend /']).toMatchObject({ ok: false, error: 'DC_ERR_NOT_FOUND' });
      expect(report.checks['backend /team']).toMatchObject({ ok: false, error: 'DC_ERR_BACKEND_UNAVAILABLE' });
      expect(report.checks.store?.ok).toBe(true);
      const res = await fetch(new URL('/.well-known/davcrypt/health', gw.url));
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text).not.toMatch(/127\.0\.0\.1|a-file/);
    } finally {
      await gw.close();
    }
  });
});

describe('a per-user WebDAV mount whose folder above {user} is missing', () => {
  it('answers 502 naming nothing to the client, and the log names the URL and the fix (not an unlogged 409)', async () => {
    const { startTestGateway } = await import('../helpers/gateway.js');
    const { startClientGateway } = await import('../helpers/clients.js');
    const store = await startTestGateway({ users: { store: 'store-pw' }, encrypt: false });
    const base = `${store.url}missing/{user}/`;
    const front = await startClientGateway({
      users: {},
      mounts: [{ path: '/', backend: { type: 'webdav', url: base, username: 'store', password: 'store-pw' } }],
      config: { keys: { backendKeyring: false } },
    });
    try {
      await front.gw.gateway.users.accounts.add('alice', 'alice-pw').catch(() => undefined);
      front.gw.users.alice = 'alice-pw';
      const r = await front.req('PROPFIND', '/', { headers: { depth: '0' }, auth: front.gw.authHeader('alice') });
      expect(r.status).toBe(502);
      expect(r.text).not.toContain(String(store.port));
      await new Promise((res) => setTimeout(res, 300));
      const logged = front.logs.find((l) => l.message === 'request failed' && /the folder above \{user\} is missing/.test(String(l.error)));
      expect(String(logged?.error)).toContain(`${store.url}missing/`);
      // At start it was named already.
      expect(front.logs.some((l) => l.level === 'warn' && /mount storage not usable/.test(l.message))).toBe(true);
    } finally {
      await front.close();
      await store.close();
    }
  });
});
