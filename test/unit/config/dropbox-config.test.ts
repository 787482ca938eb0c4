// type: dropbox in the config: root, app.key, token (env:, file:, literal), and the
// test-only API base overrides that must stay on loopback (they would receive the token).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { isDavcryptError } from '../../../src/errors.js';

const mount = (backend: string) => `mounts:\n  - path: /\n    backend: ${backend}\n`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, { env, cwd: '/srv' });
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_CONFIG')) return err.message;
    throw err;
  }
  return '';
}

describe('config: dropbox backend', () => {
  it('reads root, app key and a token file (resolved against the working folder)', () => {
    const c = parseConfig(mount('{ type: dropbox, root: /davcrypt/{user}, app: { key: k123 }, token: file:./secrets/dbx }'), { env: {}, cwd: '/srv' });
    expect(c.mounts[0]!.backend).toEqual({ type: 'dropbox', root: '/davcrypt/{user}', appKey: 'k123', tokenFile: '/srv/secrets/dbx' });
    expect(c.mounts[0]!.perUser).toBe(true);
  });

  it('reads a token from the environment, never keeping the reference', () => {
    const c = parseConfig(mount('{ type: dropbox, root: /davcrypt/{user}, app: { key: k }, token: env:DBX }'), { env: { DBX: 'rt-secret' } });
    expect(c.mounts[0]!.backend).toMatchObject({ type: 'dropbox', token: 'rt-secret' });
    expect(problems(mount('{ type: dropbox, root: /d/{user}, token: env:DBX }'))).toContain('DBX is not set');
  });

  it('refuses a missing token or root, unknown keys, and API bases off loopback', () => {
    expect(problems(mount('{ type: dropbox, root: /d/{user} }'))).toContain('token: is required');
    expect(problems(mount('{ type: dropbox, token: env:X }'), { X: 'y' })).toContain('root: is required');
    expect(problems(mount('{ type: dropbox, root: /d/{user}, token: env:X, url: http://x/ }'), { X: 'y' })).toContain('url: unknown key');
    expect(problems(mount('{ type: dropbox, root: /d/{user}, token: env:X, apiBase: "https://evil.example" }'), { X: 'y' })).toContain('loopback');
    const ok = parseConfig(mount('{ type: dropbox, root: /d/{user}, token: env:X, apiBase: "http://127.0.0.1:9/" }'), { env: { X: 'y' } });
    expect(ok.mounts[0]!.backend).toMatchObject({ apiBase: 'http://127.0.0.1:9' });
  });
});
