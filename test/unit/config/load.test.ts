import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, loadConfig, parseConfig, resolveConfig } from '../../../src/config/index.js';
import { isDavcryptError } from '../../../src/errors.js';

const cwd = '/srv/davcrypt';
const minimal = { mounts: [{ path: '/', backend: { type: 'local', root: './data/storage/{user}' } }] };

function problem(raw: unknown, env: NodeJS.ProcessEnv = {}): { message: string; keys: string[] } {
  try {
    resolveConfig(raw, { cwd, env });
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_CONFIG')) throw err;
    return { message: err.message, keys: err.details.keys as string[] };
  }
  throw new Error('expected DC_ERR_CONFIG');
}

describe('config', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'davcrypt-config-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('fills defaults and resolves relative paths against the working directory', () => {
    const c = resolveConfig(minimal, { cwd, env: {} });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080, quota: 'auto', realm: 'davcrypt' });
    expect(c.dataDir).toBe('/srv/davcrypt/data');
    expect(c.store).toBe('sqlite:///srv/davcrypt/data/davcrypt.sqlite');
    expect(c.mounts[0]).toEqual({ path: '/', encrypt: true, perUser: true, users: undefined, backend: { type: 'local', root: '/srv/davcrypt/data/storage/{user}' } });
    expect(c.keys).toEqual({ argon2: { m: 65536, t: 3, p: 4 }, backendKeyring: true });
    expect(c.auth.cacheIdleSeconds).toBe(900);
    expect(c.auth.throttle.maxFailures).toBe(5);
  });

  it('server.limits, trustedProxies, auth argon2 gate and throttle per address: defaults and validation', () => {
    const c = resolveConfig(minimal, { cwd, env: {} });
    expect(c.server.limits).toEqual({ xmlBodyBytes: 1048576, deadPropsPerResource: 100, deadPropBytesPerResource: 65536, deadPropBytesPerMount: 16777216, propValueBytes: 16384, lockOwnerBytes: 2048, locksPerUser: 200, propfindProps: 256 });
    expect(c.server.trustedProxies).toBeUndefined();
    expect(c.auth.throttle.maxFailuresPerAddress).toBe(20);
    const d = resolveConfig({ ...minimal, server: { trustedProxies: ['10.0.0.0/8', '::1', '192.0.2.7'], limits: { locksPerUser: 5 } }, auth: { argon2Concurrency: 3, argon2Queue: 0 } }, { cwd, env: {} });
    expect(d.server.trustedProxies).toEqual(['10.0.0.0/8', '::1', '192.0.2.7']);
    expect(d.server.limits!.locksPerUser).toBe(5);
    expect(d.auth).toMatchObject({ argon2Concurrency: 3, argon2Queue: 0 });
    const bad = problem({ ...minimal, server: { trustedProxies: ['10.0.0.0/33', 'proxy.local', '1.2.3.4/8/1'], limits: { propfindProps: 0, nope: 1 } } });
    expect(bad.keys).toEqual(expect.arrayContaining(['server.trustedProxies[0]', 'server.trustedProxies[1]', 'server.trustedProxies[2]', 'server.limits.propfindProps', 'server.limits.nope']));
    expect(problem({ ...minimal, server: { trustedProxies: '10.0.0.1' } }).keys).toEqual(['server.trustedProxies']);
    expect(problem({ ...minimal, server: { tls: { cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem', ca: '/nonexistent/ca.pem' } } }).keys).toEqual(
      expect.arrayContaining(['server.tls.cert', 'server.tls.key', 'server.tls.ca']));
  });

  it('the embedded default config loads and matches the documented default', async () => {
    const c = await loadConfig(DEFAULT_CONFIG_PATH, { cwd, env: {} });
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.server.port).toBe(8080);
    expect(c.store).toBe('sqlite:///srv/davcrypt/data/davcrypt.sqlite');
    expect(c.mounts).toHaveLength(1);
    // State (./data) and stored files (./storage) apart: the data folder is safe to lose, the storage never.
    expect(c.mounts[0]).toMatchObject({ path: '/', encrypt: true, perUser: true, backend: { type: 'local', root: '/srv/davcrypt/storage/{user}' } });
  });

  it('applies DAVCRYPT_* environment overrides', () => {
    const c = resolveConfig(minimal, {
      cwd,
      env: { DAVCRYPT_PORT: '0', DAVCRYPT_HOST: '::1', DAVCRYPT_DATA_DIR: '/var/lib/dc', DAVCRYPT_STORE: 'memory://' },
    });
    expect(c.server.port).toBe(0);
    expect(c.server.host).toBe('::1');
    expect(c.dataDir).toBe('/var/lib/dc');
    expect(c.store).toBe('memory://');
    const d = resolveConfig(minimal, { cwd, env: { DAVCRYPT_DATA_DIR: 'state' } });
    expect(d.store).toBe('sqlite:///srv/davcrypt/state/davcrypt.sqlite');
  });

  it('DAVCRYPT_DATA_DIR moves the state of the embedded default, not its storage; {dataDir} in a local root', async () => {
    const c = await loadConfig(DEFAULT_CONFIG_PATH, { cwd, env: { DAVCRYPT_DATA_DIR: '/var/lib/dc' } });
    expect(c.dataDir).toBe('/var/lib/dc');
    expect(c.store).toBe('sqlite:///var/lib/dc/davcrypt.sqlite');
    expect(c.mounts[0]!.backend).toEqual({ type: 'local', root: '/srv/davcrypt/storage/{user}' });
    const inline = parseConfig('dataDir: ./state\nmounts: [{ path: /, backend: { type: local, root: {dataDir}/files/{user} } }]\n', { cwd, env: {} });
    expect(inline.mounts[0]!.backend).toEqual({ type: 'local', root: '/srv/davcrypt/state/files/{user}' });
    // Only a leading {dataDir} is expanded.
    const mid = resolveConfig({ mounts: [{ path: '/', backend: { type: 'local', root: './x{dataDir}/{user}' } }] }, { cwd, env: {} });
    expect(mid.mounts[0]!.backend).toEqual({ type: 'local', root: '/srv/davcrypt/x{dataDir}/{user}' });
  });

  it('a bad DAVCRYPT_PORT names the variable', () => {
    expect(problem(minimal, { DAVCRYPT_PORT: 'http' }).keys).toEqual(['DAVCRYPT_PORT']);
  });

  it('webdav url errors name the key and show an example', () => {
    const raw = {
      mounts: [
        { path: '/', backend: { type: 'local', root: './d/{user}' } },
        { path: '/team', users: ['alice'], backend: { type: 'webdav', url: 'ftp://x/' } },
      ],
    };
    const p = problem(raw);
    expect(p.keys).toEqual(['mounts[1].backend.url']);
    expect(p.message).toContain('mounts[1].backend.url: must be an http(s) URL, e.g. https://dav.example.com/remote.php/dav/files/davcrypt/homes/{user}/');
  });

  it('names every bad key at once', () => {
    const p = problem({ server: { port: 70000, colour: 'red' }, store: 'mysql://x', mounts: [] });
    expect(p.keys.sort()).toEqual(['mounts', 'server.colour', 'server.port', 'store'].sort());
    expect(p.message).toMatch(/server\.port: must be an integer from 0 to 65535/);
    expect(p.message).toMatch(/server\.colour: unknown key/);
  });

  it('a shared mount needs users; user names are validated', () => {
    expect(problem({ mounts: [{ path: '/team', backend: { type: 'local', root: '/srv/team' } }] }).keys).toEqual(['mounts[0].users']);
    expect(
      problem({ mounts: [{ path: '/team', users: ['../x'], backend: { type: 'local', root: '/srv/team' } }] }).keys,
    ).toEqual(['mounts[0].users[0]']);
    const ok = resolveConfig({ mounts: [{ path: '/team/', users: ['alice', 'bob'], backend: { type: 'local', root: '/srv/team' } }] }, { cwd, env: {} });
    expect(ok.mounts[0]).toMatchObject({ path: '/team', perUser: false, users: ['alice', 'bob'] });
  });

  it('plaintext: refuse (default, left undefined) or read on encrypted mounts only', () => {
    const local = { type: 'local', root: './data/storage/{user}' };
    expect(resolveConfig(minimal, { cwd, env: {} }).mounts[0]!.plaintext).toBeUndefined();
    expect(resolveConfig({ mounts: [{ path: '/', plaintext: 'read', backend: local }] }, { cwd, env: {} }).mounts[0]!.plaintext).toBe('read');
    expect(resolveConfig({ mounts: [{ path: '/', plaintext: 'refuse', backend: local }] }, { cwd, env: {} }).mounts[0]!.plaintext).toBe('refuse');
    const bad = problem({ mounts: [{ path: '/', plaintext: 'yes', backend: local }] });
    expect(bad.keys).toEqual(['mounts[0].plaintext']);
    expect(bad.message).toMatch(/must be refuse .* or read/);
    expect(problem({ mounts: [{ path: '/', encrypt: false, plaintext: 'read', backend: local }] }).message).toMatch(/mounts\[0\]\.plaintext: applies only to encrypted mounts/);
  });

  it('rejects duplicate and traversing mount paths, unknown backend types', () => {
    const local = { type: 'local', root: '/x/{user}' };
    expect(problem({ mounts: [{ path: '/', backend: local }, { path: '/', backend: local }] }).keys).toEqual(['mounts[1].path']);
    expect(problem({ mounts: [{ path: '/a/../b', backend: local }] }).keys).toEqual(['mounts[0].path']);
    expect(problem({ mounts: [{ path: '/', backend: { type: 's3' } }] }).keys).toEqual(['mounts[0].backend.type']);
    expect(problem({ mounts: [{ path: '/', backend: { type: 'local', root: '/x/{user}', url: 'http://a/' } }] }).keys).toEqual(['mounts[0].backend.url']);
  });

  it('reads passwords from the environment in both spellings', () => {
    const mk = (password: unknown) => ({
      mounts: [{ path: '/', backend: { type: 'webdav', url: 'http://127.0.0.1:1/dav/{user}', username: 'gw', password } }],
    });
    const a = resolveConfig(mk('env:DAV_PW'), { cwd, env: { DAV_PW: 's3cret' } });
    const b = resolveConfig(mk({ env: 'DAV_PW' }), { cwd, env: { DAV_PW: 's3cret' } });
    const c = resolveConfig(mk('literal'), { cwd, env: {} });
    expect(a.mounts[0]!.backend).toEqual({ type: 'webdav', url: 'http://127.0.0.1:1/dav/{user}/', username: 'gw', password: 's3cret' });
    expect(b.mounts[0]!.backend).toEqual(a.mounts[0]!.backend);
    expect((c.mounts[0]!.backend as { password: string }).password).toBe('literal');
    const p = problem(mk('env:MISSING_PW'));
    expect(p.keys).toEqual(['mounts[0].backend.password']);
    expect(p.message).toContain('MISSING_PW is not set');
    expect(p.message).not.toContain('s3cret');
  });

  it('validates argon2 params, quota and log level', () => {
    const c = resolveConfig({ ...minimal, keys: { argon2: { m: 1024, t: 1, p: 1 }, backendKeyring: false }, server: { quota: 'off' } }, { cwd, env: {} });
    expect(c.keys).toEqual({ argon2: { m: 1024, t: 1, p: 1 }, backendKeyring: false });
    expect(c.server.quota).toBe('off');
    expect(problem({ ...minimal, keys: { argon2: { m: 4, p: 1 } } }).keys).toEqual(['keys.argon2.m']);
    expect(problem({ ...minimal, server: { quota: 'maybe' } }).keys).toEqual(['server.quota']);
    expect(problem({ ...minimal, log: { level: 'loud' } }).keys).toEqual(['log.level']);
  });

  it('reports YAML syntax errors and missing files as DC_ERR_CONFIG', async () => {
    expect(() => parseConfig('mounts: [', { source: 'x.yaml' })).toThrow(/x\.yaml: not valid YAML/);
    await expect(loadConfig(join(tmp, 'nope.yaml'))).rejects.toMatchObject({ code: 'DC_ERR_CONFIG' });
    const file = join(tmp, 'tls.yaml');
    writeFileSync(file, 'server: { tls: { cert: missing.pem, key: missing.key } }\nmounts: [{ path: /, backend: { type: local, root: "./s/{user}" } }]\n');
    await expect(loadConfig(file, { cwd: tmp, env: {} })).rejects.toThrow(/server\.tls\.cert: file .*missing\.pem does not exist/);
  });
});

describe('config YAML pitfalls', () => {
  it('accepts {user} unquoted, in flow mappings (the documented one-line shape) and block style', () => {
    const contract = [
      'server: { host: 127.0.0.1, port: 8080 }',
      'dataDir: ./data',
      'store: sqlite://./data/davcrypt.sqlite',
      'mounts:',
      '  - path: /',
      '    encrypt: true',
      '    backend: { type: local, root: ./data/storage/{user} }',
      '  - path: /remote',
      '    backend: { type: webdav, url: http://host/dav/{user}/, username: u, password: p }',
      '',
    ].join('\n');
    const config = parseConfig(contract, { env: {}, cwd: '/srv' });
    expect(config.mounts[0]!.backend).toMatchObject({ type: 'local', root: '/srv/data/storage/{user}' });
    expect(config.mounts[1]!.backend).toMatchObject({ type: 'webdav', url: 'http://host/dav/{user}/' });
    const block = parseConfig('mounts:\n  - path: /\n    backend:\n      type: local\n      root: ./s/{user}\n', { env: {}, cwd: '/srv' });
    expect(block.mounts[0]!.backend).toMatchObject({ root: '/srv/s/{user}' });
  });
});

describe('shipped example configs', () => {
  it('every config/examples/*.yaml validates', async () => {
    const { readdirSync } = await import('node:fs');
    const dir = join(DEFAULT_CONFIG_PATH, '..', 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const tmp = mkdtempSync(join(tmpdir(), 'davcrypt-examples-'));
    try {
      for (const f of ['cert.pem', 'key.pem']) writeFileSync(join(tmp, f), 'x');
      for (const f of files) {
        const text = (await import('node:fs')).readFileSync(join(dir, f), 'utf8').replaceAll('/etc/davcrypt/', `${tmp}/`);
        const c = parseConfig(text, { source: f, cwd: tmp, env: { DAVCRYPT_BACKEND_PASSWORD: 'x' } });
        expect(c.mounts.length, f).toBeGreaterThan(0);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
