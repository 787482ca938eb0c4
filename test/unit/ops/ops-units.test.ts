// Pure parts of ops: the server.metrics / audit config keys, which CLI runs are audited
// and with which fields, what a probe reports (and how long it may take), the /readyz
// body, the part of a {user} backend a probe looks at, and the ObservedBackend decorator
// keeping the wrapped backend's shape while publishing each call.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, observeBackend, type Backend } from '../../../src/backends/index.js';
import { resolveConfig } from '../../../src/config/index.js';
import { channels, onEvent, publishLogin, type BackendCallEvent } from '../../../src/events.js';
import { auditGatewayEvents, cliAuditEntry, openAuditLog, probeTarget, readinessBody, Readiness, runProbe, type HealthProbe } from '../../../src/ops/index.js';

const MOUNTS = [{ path: '/', backend: { type: 'local', root: '/srv/dav/{user}' } }];

describe('server.metrics and audit config keys', () => {
  it('are off by default and resolve with defaults and absolute paths', () => {
    const off = resolveConfig({ mounts: MOUNTS }, { cwd: '/etc/davcrypt', env: {} });
    expect(off.server.metrics).toBeUndefined();
    expect(off.audit).toBeUndefined();
    const on = resolveConfig({ mounts: MOUNTS, server: { metrics: {} }, audit: { file: 'audit.log' } }, { cwd: '/etc/davcrypt', env: {} });
    expect(on.server.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(on.audit).toEqual({ file: '/etc/davcrypt/audit.log' });
    expect(resolveConfig({ mounts: MOUNTS, audit: { stdout: true } }, { env: {} }).audit).toEqual({ stdout: true });
  });

  it('name the key and the fix when wrong', () => {
    const bad = (raw: Record<string, unknown>) => {
      try {
        resolveConfig({ mounts: MOUNTS, ...raw }, { env: {} });
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ server: { metrics: { port: 'x' } } })).toContain('server.metrics.port: must be an integer from 0 to 65535');
    expect(bad({ server: { metrics: { path: '/m' } } })).toContain('server.metrics.path: unknown key');
    expect(bad({ audit: {} })).toContain('audit: needs file or stdout: true');
    expect(bad({ audit: 'yes' })).toContain('audit: must be a mapping');
    expect(bad({ audit: { file: '/a', stdout: true } })).toContain('not both');
  });
});

describe('cliAuditEntry', () => {
  it('audits the user and key commands with names only', () => {
    expect(cliAuditEntry('user', ['add', 'alice', '--config', 'c.yaml'])).toEqual({ event: 'user.add', fields: { user: 'alice' }, config: 'c.yaml' });
    expect(cliAuditEntry('mount', ['grant', '/team', 'bob', '--as', 'alice'])?.fields).toEqual({ mount: '/team', user: 'bob', opener: 'user:alice' });
    expect(cliAuditEntry('key', ['rotate', '/', '--user', 'alice', '--reencrypt', '--recovery'])?.fields).toMatchObject({ mount: '/', user: 'alice', opener: 'recovery', reencrypt: true });
    expect(cliAuditEntry('recovery', ['reset-password', 'alice', '--force'])?.fields).toEqual({ user: 'alice', force: true });
    expect(cliAuditEntry('recovery', ['init', '--user', 'a', '--user', 'b'])?.fields).toEqual({ users: ['a', 'b'] });
    expect(cliAuditEntry('master', ['init'])?.event).toBe('master.init');
  });

  it('skips read-only commands, help and unknown subcommands', () => {
    expect(cliAuditEntry('user', ['list'])).toBeUndefined();
    expect(cliAuditEntry('user', ['add', 'alice', '--help'])).toBeUndefined();
    expect(cliAuditEntry('verify', ['/'])).toBeUndefined();
    expect(cliAuditEntry('key', ['frobnicate'])).toBeUndefined();
  });
});

describe('probes and readiness', () => {
  const probe = (name: string, run: (signal: AbortSignal) => Promise<void>): HealthProbe => ({ name, probe: run });

  it('runProbe reports ok, a code, or a timeout within its deadline', async () => {
    expect(await runProbe(probe('a', async () => undefined), 100)).toMatchObject({ ok: true });
    const refused = await runProbe(probe('b', async () => { throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:80'), { code: 'ECONNREFUSED' }); }), 100);
    expect(refused).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
    const started = Date.now();
    let aborted = false;
    const hung = await runProbe(probe('c', (signal) => new Promise(() => signal.addEventListener('abort', () => (aborted = true)))), 150);
    expect(hung).toMatchObject({ ok: false, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(aborted).toBe(true);
  });

  it('caches an answer for cacheMs and shares one run between callers', async () => {
    let runs = 0;
    let now = 1000;
    const r = new Readiness([probe('store', async () => void runs++)], { cacheMs: 500, now: () => now });
    await Promise.all([r.check(), r.check(), r.check()]);
    expect(runs).toBe(1);
    now += 400;
    await r.check();
    expect(runs).toBe(1);
    now += 200;
    await r.check();
    expect(runs).toBe(2);
  });

  it('drain() turns the answer to not ready, naming the shutdown', async () => {
    const r = new Readiness([probe('store', async () => undefined)]);
    expect((await r.check()).ready).toBe(true);
    r.drain();
    const report = await r.check();
    expect(report.ready).toBe(false);
    expect(JSON.parse(readinessBody(report))).toMatchObject({ failing: ['shutdown'], checks: { store: 'ok', shutdown: 'failed: draining' } });
  });

  it('the /readyz body names failing parts with short reasons, never the detail', () => {
    const body = JSON.parse(readinessBody({
      ready: false, at: 0,
      checks: { store: { ok: true, ms: 1 }, 'backend /team': { ok: false, reason: 'ECONNREFUSED', detail: 'webdav:https://secret-host/', ms: 2 } },
    }));
    expect(body).toEqual({ status: 'unavailable', failing: ['backend /team'], checks: { store: 'ok', 'backend /team': 'failed: ECONNREFUSED' } });
  });

  it('a per-user backend is probed above its {user} part', () => {
    const mount = (backend: Record<string, unknown>) => resolveConfig({ mounts: [{ path: '/', backend }] }, { env: {} }).mounts[0]!;
    expect(probeTarget(mount({ type: 'local', root: '/srv/dav/{user}' }))).toBe('/srv/dav/');
    expect(probeTarget(mount({ type: 'local', root: '/srv/dav/home-{user}/files' }))).toBe('/srv/dav');
    expect(probeTarget(mount({ type: 'webdav', url: 'https://h/remote.php/dav/files/{user}/' }))).toBe('https://h/remote.php/dav/files/');
    const shared = resolveConfig({ mounts: [{ path: '/t', users: ['a'], backend: { type: 'webdav', url: 'https://h/team/' } }] }, { env: {} }).mounts[0]!;
    expect(probeTarget(shared)).toBe('https://h/team/');
  });
});

describe('ObservedBackend', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'davcrypt-observed-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('keeps name, capabilities and optional methods, and publishes each call with its outcome', async () => {
    const inner: Backend = new LocalBackend(dir);
    const observed = observeBackend(inner, { mount: '/', backend: 'local' });
    expect(observed.name).toBe(inner.name);
    expect(observed.capabilities).toEqual(inner.capabilities);
    for (const m of ['listWithSelf', 'listEach', 'setModified', 'quota'] as const) expect(typeof observed[m]).toBe(typeof inner[m]);
    const seen: BackendCallEvent[] = [];
    const off = onEvent<BackendCallEvent>(channels.backendCall, (e) => seen.push(e));
    try {
      await observed.mkdir('/a');
      await expect(observed.stat('/nope')).rejects.toMatchObject({ code: 'DC_ERR_NOT_FOUND' });
    } finally {
      off();
    }
    expect(seen.map((e) => [e.mount, e.backend, e.operation, e.outcome])).toEqual([['/', 'local', 'mkdir', 'ok'], ['/', 'local', 'stat', 'DC_ERR_NOT_FOUND']]);
    expect(seen.every((e) => e.seconds >= 0 && e.seconds < 5)).toBe(true);
  });
});

describe('openAuditLog', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'davcrypt-audit-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('appends JSON lines (time, event, then the fields; undefined dropped) to a 0600 file, all there after close', async () => {
    const file = join(dir, 'sub/audit.log');
    const audit = openAuditLog({ file });
    for (let i = 0; i < 50; i++) audit.write('login', { user: `u${i}`, address: '10.0.0.1', by: undefined });
    await audit.close();
    const again = openAuditLog({ file });
    again.write('user.add', { user: 'x', outcome: 'ok' });
    await again.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(51);
    expect(Object.keys(JSON.parse(lines[0]!))).toEqual(['time', 'event', 'user', 'address']);
    expect(JSON.parse(lines[50]!)).toMatchObject({ event: 'user.add', user: 'x', outcome: 'ok' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('writes to a stream for stdout, and refuses a file it cannot open with DC_ERR_CONFIG', async () => {
    let text = '';
    const sink = new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } });
    const audit = openAuditLog({ stdout: true }, sink);
    audit.write('config.reload', { outcome: 'ok' });
    await audit.close();
    expect(JSON.parse(text)).toMatchObject({ event: 'config.reload', outcome: 'ok' });
    await writeFile(join(dir, 'plain-file'), 'x');
    expect(() => openAuditLog({ file: join(dir, 'plain-file/audit.log') })).toThrow(/audit\.file: cannot open/);
  });
});

describe('auditGatewayEvents', () => {
  it('folds a throttled client retrying in a loop into one line per 10 s, with the count on the next', async () => {
    let text = '';
    const sink = new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } });
    const audit = openAuditLog({ stdout: true }, sink);
    let now = 0;
    const off = auditGatewayEvents(audit, () => now);
    try {
      for (let i = 0; i < 5; i++) publishLogin({ outcome: 'throttled', user: 'bob', address: '10.0.0.9', retryAfterSeconds: 60, by: 'address' });
      publishLogin({ outcome: 'throttled', user: 'eve', address: '10.0.0.9' });
      now += 10_000;
      publishLogin({ outcome: 'throttled', user: 'bob', address: '10.0.0.9' });
      publishLogin({ outcome: 'failure', user: 'x'.repeat(500), address: '10.0.0.9' });
    } finally {
      off();
      await audit.close();
    }
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.user === undefined ? undefined : String(l.user).slice(0, 3), l.repeated])).toEqual([
      ['login.throttled', 'bob', undefined], ['login.throttled', 'eve', undefined], ['login.throttled', 'bob', 4], ['login.failed', 'xxx', undefined],
    ]);
    expect(lines[0]).toMatchObject({ address: '10.0.0.9', retryAfterSeconds: 60, lockedBy: 'address' });
    expect(String(lines[3]!.user).length).toBeLessThanOrEqual(129);
  });
});
