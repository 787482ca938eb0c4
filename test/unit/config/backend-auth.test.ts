// backend.auth (passthrough | { username, password }) and auth.provider: backend with its rule
// that keys.mode must be master (the backend sees the passwords), each problem naming its key.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';
import type { WebdavBackendConfig } from '../../../src/config/types.js';
import { isDavcryptError } from '../../../src/errors.js';

const cwd = '/srv/davcrypt';
const URL_T = 'https://cloud.example.com/remote.php/dav/files/{user}/';
const mountWith = (backend: Record<string, unknown>) => ({ mounts: [{ path: '/', backend: { type: 'webdav', url: URL_T, ...backend } }] });
const resolve = (raw: unknown) => resolveConfig(raw, { cwd, env: {} });
const BACKEND_LOGIN = { auth: { provider: 'backend' }, keys: { mode: 'master', masterKeyFile: 'm.key' } };

function problem(raw: unknown): { message: string; keys: string[] } {
  try {
    resolve(raw);
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_CONFIG')) throw err;
    return { message: err.message, keys: err.details.keys as string[] };
  }
  throw new Error('expected DC_ERR_CONFIG');
}

describe('config backend.auth and auth.provider', () => {
  it('passthrough sets no service account; { username, password } is the service-account form', () => {
    const pass = resolve({ ...mountWith({ auth: 'passthrough' }), ...BACKEND_LOGIN }).mounts[0]!.backend as WebdavBackendConfig;
    expect(pass.passthrough).toBe(true);
    expect(pass.username).toBeUndefined();
    const svc = resolve(mountWith({ auth: { username: 'svc', password: 'pw' } })).mounts[0]!.backend as WebdavBackendConfig;
    expect(svc).toMatchObject({ username: 'svc', password: 'pw' });
    expect(svc.passthrough).toBeUndefined();
  });

  it('passthrough needs {user} in the URL and no username/password; other auth values are refused', () => {
    expect(problem({ mounts: [{ path: '/', users: ['*'], backend: { type: 'webdav', url: 'https://h/dav/team/', auth: 'passthrough' } }], ...BACKEND_LOGIN }).keys)
      .toEqual(['mounts[0].backend.url']);
    expect(problem({ ...mountWith({ auth: 'passthrough', username: 'svc' }), ...BACKEND_LOGIN }).keys).toEqual(['mounts[0].backend.auth']);
    expect(problem(mountWith({ auth: 'yes' })).keys).toEqual(['mounts[0].backend.auth']);
    expect(problem({ mounts: [{ path: '/', backend: { type: 'local', root: '/s/{user}', auth: 'passthrough' } }] }).keys).toEqual(['mounts[0].backend.auth']);
  });

  it('passthrough requires auth.provider: backend (keys must never be sealed under a password the backend sees)', () => {
    const p = problem(mountWith({ auth: 'passthrough' }));
    expect(p.keys).toEqual(['mounts[0].backend.auth']);
    expect(p.message).toContain('auth.provider: backend and keys.mode: master');
  });

  it('auth.provider: backend requires keys.mode: master and says why', () => {
    const p = problem({ ...mountWith({ auth: 'passthrough' }), auth: { provider: 'backend' } });
    expect(p.keys).toEqual(['auth.provider']);
    expect(p.message).toContain('keys.mode: master');
    expect(p.message).toContain('sees every user\'s password');
    const ok = resolve({ ...mountWith({ auth: 'passthrough' }), auth: { provider: 'backend' }, keys: { mode: 'master', masterKeyFile: 'm.key' } });
    expect(ok.auth.provider).toBe('backend');
  });

  it('auth.provider: backend needs a passthrough mount or auth.verifyUrl; verifyUrl is checked', () => {
    const master = { mode: 'master', masterKeyFile: 'm.key' };
    expect(problem({ ...mountWith({ auth: { username: 'svc', password: 'pw' } }), auth: { provider: 'backend' }, keys: master }).keys).toEqual(['auth.provider']);
    const viaOcs = resolve({
      ...mountWith({ auth: { username: 'svc', password: 'pw' } }),
      auth: { provider: 'backend', verifyUrl: 'https://cloud.example.com/ocs/v1.php/cloud/user' }, keys: master,
    });
    expect(viaOcs.auth.verifyUrl).toBe('https://cloud.example.com/ocs/v1.php/cloud/user');
    expect(problem({ ...mountWith({ auth: 'passthrough' }), auth: { provider: 'backend', verifyUrl: 'ftp://x/' }, keys: master }).keys).toEqual(['auth.verifyUrl']);
    expect(problem({ ...mountWith({ auth: 'passthrough' }), auth: { provider: 'ldap' } }).keys).toEqual(['auth.provider']);
    expect(problem({ ...mountWith({ auth: { username: 'svc', password: 'pw' } }), auth: { verifyUrl: 'https://x/' } }).keys).toEqual(['auth.verifyUrl']);
  });
});
