// 'shared' is a valid user name. Before mount ids were typed, a shared mount's backend was opened
// for a magic location user 'shared'; now a shared mount is opened with no user at all. A user who
// is literally called "shared" must get her own home: its own id, backend, keyring and store copy,
// never the shared mount's (and the custody commands must tell the two apart).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYRING_PATH } from '../../../src/backends/layout.js';
import { resolveConfig, type Config } from '../../../src/config/index.js';
import { parseKeyring } from '../../../src/crypto/index.js';
import { currentId, formatMountId, homeMountId, sameMountId, sharedMountId } from '../../../src/keys/index.js';
import { createLogger } from '../../../src/logging.js';
import { createUserServices, isValidUserName, knownKeyrings, mountStateKey, type MountId, type UserServices } from '../../../src/users/index.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';

const silent = createLogger({ silent: true });

function configFor(root: string): Config {
  return resolveConfig(
    {
      dataDir: join(root, 'data'),
      store: 'memory://',
      keys: { argon2: { m: 1024, t: 1, p: 1 } },
      mounts: [
        { path: '/', backend: { type: 'local', root: join(root, 'storage', '{user}') } },
        { path: '/team', users: ['shared', 'alice'], backend: { type: 'local', root: join(root, 'team') } },
      ],
    },
    { cwd: root, env: {} },
  );
}

describe('a user named "shared"', () => {
  let tmp: TempDir;
  let config: Config;
  let store: Keyv;
  let svc: UserServices;

  beforeEach(async () => {
    tmp = await makeTempDir('user-shared');
    config = configFor(tmp.path);
    store = new Keyv();
    svc = createUserServices(config, store, silent);
  });
  afterEach(async () => {
    await svc.close();
    await tmp.cleanup();
  });

  it('is a valid name, and her home id is not the shared mount\'s', () => {
    expect(isValidUserName('shared')).toBe(true);
    const [home, team] = config.mounts;
    const homeId = svc.backends.mountId(home!, 'shared');
    const teamId = svc.backends.mountId(team!, 'shared');
    expect(formatMountId(homeId)).toBe('home:shared');
    expect(formatMountId(teamId)).toBe('shared:/team');
    expect(sameMountId(homeId, teamId)).toBe(false);
    expect(svc.backends.resolveMountId(homeId)).toEqual({ mount: home, user: 'shared' });
    expect(svc.backends.resolveMountId(teamId)).toEqual({ mount: team });
  });

  it('gets her own backend: a shared mount is opened without a user, the same for everyone', async () => {
    const [home, team] = config.mounts;
    const mine = await svc.backends.rawBackend(home!, 'shared');
    const shared = await svc.backends.rawBackend(team!);
    expect(mine).not.toBe(shared);
    expect(await svc.backends.rawBackend(team!, 'shared')).toBe(shared);
    expect(await svc.backends.rawBackend(team!, 'alice')).toBe(shared);
    expect(svc.backends.location(home!, 'shared')).toBe(join(tmp.path, 'storage', 'shared'));
    expect(svc.backends.location(team!, undefined)).toBe(join(tmp.path, 'team'));
    expect(() => svc.backends.rawBackend(home!)).toThrow(/per-user: its location needs the user/);
  });

  it('gets her own keyring, in the store and on the backend, and the custody commands see both', async () => {
    await svc.accounts.add('shared', 'pw-shared');
    const user = await svc.authenticator.authenticate('shared', 'pw-shared', '::1');
    const mounts = await svc.authenticator.mountsFor(user);
    expect(mounts.map((m) => [m.urlPrefix, mountStateKey(m.id)])).toEqual([['/team', 'shared:/team'], ['', 'home:shared']]);

    const homeId = homeMountId('shared', '/');
    const teamId = sharedMountId('/team');
    const homeRing = await svc.keyrings.getStored(homeId);
    const teamRing = await svc.keyrings.getStored(teamId);
    expect(homeRing && teamRing).toBeTruthy();
    expect(currentId(homeRing!)).not.toBe(currentId(teamRing!));
    expect(homeRing!.keys.map((k) => k.mount)).toEqual(['home:shared']);
    expect(teamRing!.keys.map((k) => k.mount)).toEqual(['shared:/team']);

    const onDisk = async (folder: string) => parseKeyring(await readFile(join(tmp.path, folder, KEYRING_PATH), 'utf8'));
    expect(currentId(await onDisk('storage/shared'))).toBe(currentId(homeRing!));
    expect(currentId(await onDisk('team'))).toBe(currentId(teamRing!));

    const known = await knownKeyrings({ config, store, services: svc, logger: silent });
    const byId = (id: MountId) => known.find((k) => sameMountId(k.mountId, id));
    expect(known).toHaveLength(2);
    expect(byId(homeId)).toMatchObject({ mount: config.mounts[0], user: 'shared' });
    expect(byId(teamId)).toMatchObject({ mount: config.mounts[1] });
    expect(byId(teamId)!.user).toBeUndefined();
  });
});
