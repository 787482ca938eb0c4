// The `web:` config section: absent means on with 12-hour sessions; its keys are checked.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';

const minimal = { mounts: [{ path: '/', backend: { type: 'local', root: './data/storage/{user}' } }] };

describe('web config', () => {
  it('is absent by default and read when given', () => {
    expect(resolveConfig(minimal, { cwd: '/srv/davcrypt', env: {} }).web).toBeUndefined();
    const web = resolveConfig({ ...minimal, web: { enabled: true, shares: false, sessionHours: 2 } }, { cwd: '/srv/davcrypt', env: {} }).web;
    expect(web).toEqual({ enabled: true, shares: false, sessionHours: 2 });
  });

  it('refuses unknown keys and out-of-range session lengths', () => {
    expect(() => resolveConfig({ ...minimal, web: { colour: 'red' } }, { cwd: '/srv/davcrypt', env: {} })).toThrow(/web\.colour: unknown key/);
    expect(() => resolveConfig({ ...minimal, web: { sessionHours: 0 } }, { cwd: '/srv/davcrypt', env: {} })).toThrow(/web\.sessionHours/);
  });
});
