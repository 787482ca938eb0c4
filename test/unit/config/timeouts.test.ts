// The `timeouts:` block: defaults when absent, every key validated with its name and range.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS, parseConfig, timeoutsOf } from '../../../src/config/index.js';

const MOUNTS = 'mounts: [{ path: /, backend: { type: local, root: ./s/{user} } }]\n';

describe('config timeouts', () => {
  it('fills the defaults', () => {
    const c = parseConfig(MOUNTS, { env: {}, cwd: '/tmp' });
    expect(c.timeouts).toEqual(DEFAULT_TIMEOUTS);
    expect(timeoutsOf({})).toEqual(DEFAULT_TIMEOUTS);
    expect(DEFAULT_TIMEOUTS).toMatchObject({ backendConnectSeconds: 10, backendHeadersSeconds: 60, uploadIdleSeconds: 60, storeSeconds: 5, shutdownSeconds: 30 });
  });

  it('takes overrides and names bad or unknown keys with the fix', () => {
    const c = parseConfig(MOUNTS + 'timeouts: { uploadIdleSeconds: 5, shutdownSeconds: 0 }\n', { env: {}, cwd: '/tmp' });
    expect(c.timeouts).toMatchObject({ uploadIdleSeconds: 5, shutdownSeconds: 0, storeSeconds: 5 });
    const bad = () => parseConfig(MOUNTS + 'timeouts: { storeSeconds: 0, bogus: 1 }\n', { env: {}, cwd: '/tmp' });
    expect(bad).toThrow(/timeouts\.storeSeconds: must be an integer from 1 to 86400, e\.g\. 5/);
    expect(bad).toThrow(/timeouts\.bogus: unknown key/);
  });
});
