// backend.uploadViaTemp: true | false | auto (the default, left absent) for webdav backends;
// anything else, or the key on a local backend, is a config error naming the key.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';
import type { WebdavBackendConfig } from '../../../src/config/types.js';
import { isDavcryptError } from '../../../src/errors.js';

const cwd = '/srv/davcrypt';
const withValue = (uploadViaTemp: unknown) => ({
  mounts: [{ path: '/', backend: { type: 'webdav', url: 'http://127.0.0.1:1/dav/{user}/', uploadViaTemp } }],
});
const backendOf = (raw: unknown) => resolveConfig(raw, { cwd, env: {} }).mounts[0]!.backend as WebdavBackendConfig;

function problem(raw: unknown): { message: string; keys: string[] } {
  try {
    resolveConfig(raw, { cwd, env: {} });
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_CONFIG')) throw err;
    return { message: err.message, keys: err.details.keys as string[] };
  }
  throw new Error('expected DC_ERR_CONFIG');
}

describe('config backend.uploadViaTemp', () => {
  it('accepts true, false and auto; absent (or empty) stays absent, which the backend reads as auto', () => {
    expect(backendOf(withValue(true)).uploadViaTemp).toBe(true);
    expect(backendOf(withValue(false)).uploadViaTemp).toBe(false);
    expect(backendOf(withValue('auto')).uploadViaTemp).toBe('auto');
    expect('uploadViaTemp' in backendOf(withValue(undefined))).toBe(false);
    expect('uploadViaTemp' in backendOf(withValue(null))).toBe(false);
  });

  it('rejects other values, naming the key and the choices', () => {
    for (const bad of ['yes', 'true', 'Auto', 1, 0, {}, []]) {
      const p = problem(withValue(bad));
      expect(p.keys, JSON.stringify(bad)).toEqual(['mounts[0].backend.uploadViaTemp']);
      expect(p.message).toContain('mounts[0].backend.uploadViaTemp: must be true, false or auto');
    }
  });

  it('applies only to webdav backends', () => {
    const p = problem({ mounts: [{ path: '/', backend: { type: 'local', root: '/x/{user}', uploadViaTemp: 'auto' } }] });
    expect(p.keys).toEqual(['mounts[0].backend.uploadViaTemp']);
  });
});
