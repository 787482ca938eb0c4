// Mount ids round-trip through MountBackends.resolveMountId (the custody commands
// find a keyring's mount and owner from its id), and keys.mode / keys.masterKeyFile
// validate in the config loader.
import { describe, expect, it } from 'vitest';
import { masterKeyFileOf, resolveConfig } from '../../../src/config/index.js';
import { formatMountId, MountBackends, parseMountId, sharedMountId } from '../../../src/users/index.js';

const config = resolveConfig(
  {
    dataDir: '/srv/dc',
    mounts: [
      { path: '/', backend: { type: 'local', root: '/s/{user}' } },
      { path: '/photos', backend: { type: 'local', root: '/p/{user}' } },
      { path: '/team', users: ['alice'], backend: { type: 'local', root: '/t' } },
    ],
  },
  { cwd: '/', env: {} },
);

describe('mount ids', () => {
  const b = new MountBackends(config.mounts);
  it('round-trips home, nested home and shared ids', () => {
    for (const m of config.mounts) {
      const id = b.mountId(m, 'alice');
      const back = b.resolveMountId(id);
      expect(back?.mount).toBe(m);
      expect(back?.user).toBe(m.perUser ? 'alice' : undefined);
    }
    expect(formatMountId(b.mountId(config.mounts[1]!, 'bob'))).toBe('home:bob:/photos');
    expect(b.mountId(config.mounts[2]!)).toEqual(sharedMountId('/team'));
  });
  it('rejects ids of unknown mounts; invalid names are no mount id at all', () => {
    expect(b.resolveMountId(sharedMountId('/nope'))).toBeUndefined();
    expect(b.resolveMountId(parseMountId('home:alice:/music')!)).toBeUndefined();
    expect(parseMountId('home:../x')).toBeUndefined();
    expect(parseMountId('other:alice')).toBeUndefined();
  });
  it('needs the owner for a per-user mount, and builds no id from an invalid name', () => {
    expect(() => b.mountId(config.mounts[0]!)).toThrow(/per user/);
    expect(() => b.mountId(config.mounts[0]!, '../x')).toThrow(/invalid user name/);
  });
});

describe('keys.mode config', () => {
  it('defaults to password mode with <dataDir>/master.key, accepts master and a file', () => {
    expect(config.keys.mode).toBeUndefined();
    expect(masterKeyFileOf(config)).toBe('/srv/dc/master.key');
    const m = resolveConfig({ mounts: config.mounts.slice(0, 1).map(() => ({ path: '/', backend: { type: 'local', root: '/s/{user}' } })), keys: { mode: 'master', masterKeyFile: 'k/m.key' } }, { cwd: '/etc/dc', env: {} });
    expect(m.keys.mode).toBe('master');
    expect(masterKeyFileOf(m)).toBe('/etc/dc/k/m.key');
  });
  it('names the key for a bad mode', () => {
    expect(() => resolveConfig({ mounts: [{ path: '/', backend: { type: 'local', root: '/s/{user}' } }], keys: { mode: 'hsm' } }, { cwd: '/', env: {} })).toThrow(/keys\.mode: must be password or master/);
  });
});
