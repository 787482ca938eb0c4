// Operations of a running gateway: /livez, /readyz and the old health path without
// credentials; /metrics only on its own listener, with counters that move with real
// requests (scraped and parsed); audit lines for logins, failed and throttled logins,
// key creation, integrity failures and config reloads; readiness going to 503 when a
// WebDAV backend (a second, plain gateway) stops, and back to 200 when it returns.
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRestore } from '../../src/cli/restore.js';
import { publishConfigReload } from '../../src/events.js';
import { inProcessCliIO } from '../helpers/cli.js';
import { gatewayRequest, patternBytes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { auditLines, readyz, scrape, waitFor, waitForReadyz } from '../helpers/ops.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('ops endpoints, metrics and audit on a local-backend gateway', () => {
  let gw: TestGateway;
  let metricsUrl: string;
  let auditFile: string;

  beforeAll(async () => {
    gw = await startTestGateway({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      config: {
        server: { metrics: { host: '127.0.0.1', port: 0 } },
        audit: { file: 'audit/audit.log' },
        auth: { throttle: { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 60, maxDelaySeconds: 60 } },
      },
    });
    metricsUrl = gw.gateway.metricsUrl!;
    auditFile = join(gw.root, 'audit/audit.log');
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers /livez, /readyz and the old health path without credentials, GET and HEAD only', async () => {
    const live = await request(new URL('/livez', gw.url));
    expect(live.statusCode).toBe(200);
    expect(await live.body.json()).toEqual({ status: 'ok' });
    const ready = await readyz(gw.url);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { store: 'ok', 'backend /': 'ok' } });
    expect((await readyz(gw.url, '/.well-known/davcrypt/health')).body).toEqual(ready.body);
    const head = await request(new URL('/readyz', gw.url), { method: 'HEAD' });
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    const post = await request(new URL('/readyz', gw.url), { method: 'PUT', body: 'x' });
    await post.body.dump();
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    // /metrics is not served on the WebDAV listener: there it is an ordinary (authenticated) path.
    const onMain = await request(new URL('/metrics', gw.url));
    await onMain.body.dump();
    expect(onMain.statusCode).toBe(401);
    // The metrics listener also answers the probes, and nothing else.
    expect((await readyz(metricsUrl)).status).toBe(200);
    const other = await request(new URL('/other', metricsUrl));
    await other.body.dump();
    expect(other.statusCode).toBe(404);
  });

  it('moves the request, byte, backend, login and key counters with real requests', async () => {
    const before = await scrape(metricsUrl);
    expect(before.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(before.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(before.samples.find((s) => s.name === 'davcrypt_build_info')?.labels).toEqual({ version: PACKAGE_VERSION, node: process.version });
    const body = patternBytes(200_000, 3);
    expect((await gatewayRequest(gw, 'PUT', '/m.bin', { auth: gw.authHeader('alice'), body })).status).toBe(201);
    const got = await gatewayRequest(gw, 'GET', '/m.bin', { auth: gw.authHeader('alice') });
    expect(got.status).toBe(200);
    expect(got.body.equals(body)).toBe(true);
    expect((await gatewayRequest(gw, 'GET', '/missing', { auth: gw.authHeader('alice') })).status).toBe(404);
    expect((await gatewayRequest(gw, 'MKCOL', '/dir', { auth: gw.authHeader('alice') })).status).toBe(201);
    await readyz(gw.url); // the probes are not counted as requests

    const after = await scrape(metricsUrl);
    const delta = (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
    expect(delta('davcrypt_http_requests_total', { method: 'PUT', status_class: '2xx' })).toBe(1);
    expect(delta('davcrypt_http_requests_total', { method: 'GET', status_class: '2xx' })).toBe(1);
    expect(delta('davcrypt_http_requests_total', { method: 'GET', status_class: '4xx' })).toBe(1);
    expect(delta('davcrypt_http_requests_total', { method: 'MKCOL', status_class: '2xx' })).toBe(1);
    expect(delta('davcrypt_http_requests_total')).toBe(4);
    expect(delta('davcrypt_http_request_duration_seconds_count', { method: 'GET' })).toBe(2);
    // Wire bytes: at least the bodies, plus headers and the encryption overhead on the way out.
    expect(delta('davcrypt_http_received_bytes_total', { method: 'PUT' })).toBeGreaterThanOrEqual(body.length);
    expect(delta('davcrypt_http_sent_bytes_total', { method: 'GET' })).toBeGreaterThanOrEqual(body.length);
    expect(delta('davcrypt_backend_requests_total', { mount: '/', backend: 'local', operation: 'write', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(delta('davcrypt_backend_requests_total', { mount: '/', backend: 'local', outcome: 'DC_ERR_NOT_FOUND' })).toBeGreaterThanOrEqual(1);
    expect(delta('davcrypt_backend_request_duration_seconds_count', { mount: '/', operation: 'read' })).toBeGreaterThanOrEqual(1);
    expect(delta('davcrypt_logins_total', { outcome: 'success' })).toBe(1);
    expect(delta('davcrypt_key_operations_total', { operation: 'create' })).toBe(1);
    expect(after.value('davcrypt_ready')).toBe(1);
    expect(after.value('davcrypt_check_up', { check: 'store' })).toBe(1);
    expect(after.value('davcrypt_login_cache_entries')).toBeGreaterThanOrEqual(1);
    expect(after.value('davcrypt_transfers_in_flight')).toBe(0);
    // Low cardinality: no label carries a path or a user name.
    for (const s of after.samples) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/alice|m\.bin|missing/);
  });

  it('writes audit lines for logins (with the client address), key creation and failed logins', async () => {
    expect((await gatewayRequest(gw, 'GET', '/', { auth: 'Basic ' + Buffer.from('bob:wrong').toString('base64') })).status).toBe(401);
    const lines = await waitFor(async () => {
      const all = await auditLines(auditFile);
      return all.some((l) => l.event === 'login.failed') ? all : undefined;
    });
    expect(lines.find((l) => l.event === 'login')).toMatchObject({ user: 'alice', address: '127.0.0.1' });
    expect(lines.find((l) => l.event === 'key.create')).toMatchObject({ mount: 'home:alice', identities: ['user:alice'], via: 'gateway' });
    expect(lines.find((l) => l.event === 'login.failed')).toMatchObject({ user: 'bob', address: '127.0.0.1' });
    for (const l of lines) expect(Date.parse(String(l.time))).toBeGreaterThan(0);
    // Never a password, in any line.
    const text = JSON.stringify(lines);
    for (const secret of ['alice-pw', 'bob-pw', 'wrong']) expect(text).not.toContain(secret);
  });

  it('counts and audits an integrity failure with its path', async () => {
    expect((await gatewayRequest(gw, 'PUT', '/t.bin', { auth: gw.authHeader('alice'), body: patternBytes(5000) })).status).toBe(201);
    const raw = await open(join(gw.storageRoot, 'alice', 't.bin'), 'r+');
    const byte = Buffer.alloc(1);
    await raw.read(byte, 0, 1, 200);
    byte[0] ^= 0x01;
    await raw.write(byte, 0, 1, 200);
    await raw.close();
    const before = await scrape(metricsUrl);
    const got = await gatewayRequest(gw, 'GET', '/t.bin', { auth: gw.authHeader('alice') });
    expect(got.status).toBe(502);
    expect(got.body.toString()).toMatch(/^DC_ERR_TAMPERED/);
    const after = await scrape(metricsUrl);
    expect(after.value('davcrypt_integrity_failures_total', { code: 'DC_ERR_TAMPERED' }) - before.value('davcrypt_integrity_failures_total', { code: 'DC_ERR_TAMPERED' })).toBe(1);
    const line = await waitFor(async () => (await auditLines(auditFile)).find((l) => l.event === 'integrity.failure'));
    expect(line).toMatchObject({ code: 'DC_ERR_TAMPERED', path: '/t.bin', user: 'alice', address: '127.0.0.1' });
  });

  it('audits a config reload as published by the reload handler', async () => {
    publishConfigReload({ outcome: 'failed', file: '/etc/davcrypt/davcrypt.yaml', code: 'DC_ERR_CONFIG' });
    const line = await waitFor(async () => (await auditLines(auditFile)).find((l) => l.event === 'config.reload'));
    expect(line).toMatchObject({ outcome: 'failed', file: '/etc/davcrypt/davcrypt.yaml', code: 'DC_ERR_CONFIG' });
  });

  // Last: the throttle also locks the client address (127.0.0.1) for everyone.
  it('counts and audits throttled logins', async () => {
    const before = await scrape(metricsUrl);
    const bad = 'Basic ' + Buffer.from('bob:still-wrong').toString('base64');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await gatewayRequest(gw, 'GET', '/', { auth: bad })).status);
    expect(statuses.slice(-1)).toEqual([429]);
    const after = await scrape(metricsUrl);
    expect(after.value('davcrypt_logins_total', { outcome: 'throttled' }) - before.value('davcrypt_logins_total', { outcome: 'throttled' })).toBeGreaterThanOrEqual(1);
    expect(after.value('davcrypt_logins_total', { outcome: 'failure' }) - before.value('davcrypt_logins_total', { outcome: 'failure' })).toBeGreaterThanOrEqual(2);
    const line = await waitFor(async () => (await auditLines(auditFile)).find((l) => l.event === 'login.throttled'));
    expect(line).toMatchObject({ user: 'bob', address: '127.0.0.1' });
    expect(Number(line.retryAfterSeconds)).toBeGreaterThan(0);
    expect(['user+address', 'address']).toContain(line.lockedBy);
  });

  it('a lost store makes no account at login (no user.adopt line); restore brings the user back, audited', async () => {
    const atStart = await auditLines(auditFile);
    expect(atStart.filter((l) => l.event === 'user.add').map((l) => [l.user, l.via])).toEqual([['alice', 'gateway'], ['bob', 'gateway']]);
    await gw.restart({ wipeStore: true }); // same storage, empty store: nothing comes from the backend by itself
    metricsUrl = gw.gateway.metricsUrl!;
    expect((await gatewayRequest(gw, 'GET', '/m.bin', { auth: gw.authHeader('alice') })).status).toBe(401);
    expect((await auditLines(auditFile)).some((l) => l.event === 'user.adopt')).toBe(false);
    const config = await gw.configFile();
    const restore = inProcessCliIO('');
    expect(await runRestore(['--yes', '--user', 'alice', '--config', config], restore.io, config)).toBe(0);
    const line = await waitFor(async () => (await auditLines(auditFile)).find((l) => l.event === 'user.adopt'));
    expect(line).toMatchObject({ user: 'alice', source: 'restore' });
    expect((await gatewayRequest(gw, 'GET', '/m.bin', { auth: gw.authHeader('alice') })).status).toBe(200);
  });
});

describe('readiness follows a WebDAV backend that goes away and comes back', () => {
  let backend: TestGateway;
  let gw: TestGateway;

  beforeAll(async () => {
    // The backend: a plain (not encrypting) gateway; its user svc's home is the share.
    backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    gw = await startTestGateway({
      users: { alice: 'alice-pw' },
      mounts: [
        { path: '/', encrypt: true, backend: { type: 'local', root: './storage/{user}' } },
        { path: '/remote', encrypt: true, users: ['alice'], backend: { type: 'webdav', url: backend.url, username: 'svc', password: 'svc-pw' } },
      ],
      config: { server: { metrics: { host: '127.0.0.1', port: 0 } } },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('200 → 503 naming "backend /remote" → 200, in /readyz and in davcrypt_check_up', async () => {
    expect((await readyz(gw.url)).body).toEqual({ status: 'ok', checks: { store: 'ok', 'backend /': 'ok', 'backend /remote': 'ok' } });
    await backend.stop();
    const down = await waitForReadyz(gw.url, 503);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.failing).toEqual(['backend /remote']);
    expect(down.body.checks['backend /remote']).toMatch(/^failed: /);
    expect(down.body.checks.store).toBe('ok');
    // No host, port or credentials in what anyone may read.
    expect(JSON.stringify(down.body)).not.toMatch(/127\.0\.0\.1|svc/);
    const metrics = await scrape(gw.gateway.metricsUrl!);
    expect(metrics.value('davcrypt_ready')).toBe(0);
    expect(metrics.value('davcrypt_check_up', { check: 'backend /remote' })).toBe(0);
    await backend.restart();
    expect(backend.url).toContain(String(backend.port));
    const up = await waitForReadyz(gw.url, 200);
    expect(up.body.checks['backend /remote']).toBe('ok');
  });
});
