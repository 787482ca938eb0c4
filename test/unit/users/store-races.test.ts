// Read-modify-write races in the store: concurrent user adds through two services objects on
// two connections to one sqlite file (as two processes would) keep every name in the list;
// two instances starting together on a fresh store create one initial admin; concurrent
// revocation markers and keys-epoch bumps lose nothing. Also on one shared memory:// store.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig, type Config } from '../../../src/config/index.js';
import { bumpKeysEpoch, keysEpoch, markRevoked, revokedUsers } from '../../../src/keys/index.js';
import { createLogger } from '../../../src/logging.js';
import { closeStore, createStore } from '../../../src/store.js';
import { createUserServices, ensureInitialAdmin, type UserServices } from '../../../src/users/index.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { requireMountId } from '../../../src/keys/mount-id.js';

/** A mount id from its stored form (the form the keyring tags and the store use). */
const mid = (text: string) => requireMountId(text, 'test');

const silent = createLogger({ silent: true });

function configFor(root: string): Config {
  return resolveConfig(
    {
      dataDir: join(root, 'data'),
      store: `sqlite://${join(root, 'data', 'davcrypt.sqlite')}`,
      keys: { argon2: { m: 1024, t: 1, p: 1 } },
      mounts: [{ path: '/', backend: { type: 'local', root: join(root, 'storage', '{user}') } }],
    },
    { cwd: root, env: {} },
  );
}

for (const kind of ['sqlite, two connections', 'memory, one store'] as const) {
  describe(`store races (${kind})`, () => {
    let tmp: TempDir;
    let stores: [Keyv, Keyv];
    let services: [UserServices, UserServices];

    beforeEach(async () => {
      tmp = await makeTempDir('store-races');
      const config = configFor(tmp.path);
      if (kind === 'memory, one store') {
        const one = await createStore('memory://');
        stores = [one, one];
      } else {
        stores = [await createStore(config.store), await createStore(config.store)];
      }
      services = [createUserServices(config, stores[0], silent), createUserServices(config, stores[1], silent)];
    });
    afterEach(async () => {
      for (const s of services) await s.close();
      for (const s of new Set(stores)) await closeStore(s);
      await tmp.cleanup();
    });

    it('10 concurrent user adds through two services objects: user list has all 10', async () => {
      const names = Array.from({ length: 10 }, (_, i) => `user${i}`);
      await Promise.all(names.map((n, i) => services[i % 2]!.accounts.add(n, `pw-${n}`)));
      expect((await services[0].accounts.list()).map((r) => r.name)).toEqual(names);
      expect(await services[1].records.names()).toEqual(names);
      // Concurrent removes of half of them, adds of others: the list stays exact.
      await Promise.all([
        ...names.slice(0, 5).map((n, i) => services[i % 2]!.accounts.remove(n)),
        ...['extra0', 'extra1', 'extra2'].map((n, i) => services[(i + 1) % 2]!.accounts.add(n, 'pw')),
      ]);
      expect(await services[0].records.names()).toEqual(['extra0', 'extra1', 'extra2', ...names.slice(5)]);
    });

    it('two instances starting together on a fresh store create exactly one admin', async () => {
      const dataDir = join(tmp.path, 'data');
      const lines: string[] = [];
      const outcomes = await Promise.all(
        services.map((s, i) =>
          ensureInitialAdmin({ accounts: s.accounts, store: stores[i]!, dataDir, logger: silent, env: {}, print: (l) => lines.push(l) }),
        ),
      );
      expect(outcomes.sort()).toEqual(['created', 'not-needed']);
      expect(lines).toHaveLength(1);
      const password = (await readFile(join(dataDir, 'initial-admin-password'), 'utf8')).trim();
      expect(lines[0]).toContain(password);
      expect(await services[1].records.names()).toEqual(['admin']);
      for (const s of services) await s.authenticator.authenticate('admin', password, '127.0.0.1');
    });

    it('concurrent revocation markers and keys-epoch bumps lose nothing', async () => {
      const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
      await Promise.all(users.map((u, i) => markRevoked(stores[i % 2]!, mid('shared:/team'), u, true)));
      expect(await revokedUsers(stores[0], mid('shared:/team'))).toEqual(users);
      await Promise.all(users.slice(0, 4).map((u, i) => markRevoked(stores[i % 2]!, mid('shared:/team'), u, false)));
      expect(await revokedUsers(stores[1], mid('shared:/team'))).toEqual(users.slice(4));
      const before = await keysEpoch(stores[0]);
      const returned = await Promise.all(Array.from({ length: 10 }, (_, i) => bumpKeysEpoch(stores[i % 2]!)));
      expect(await keysEpoch(stores[1])).toBe(before + 10);
      expect(new Set(returned).size).toBe(10);
    });
  });
}
