// davcrypt restore's planning on local storage: which home folders count, which identity wins,
// what is refused (argon2 cost out of bounds, shared keyrings that disagree), and that applying
// writes only the ADOPT users. Keyrings are forged from FORMAT.md (test/helpers/backend-attacker.ts).
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig, type Config } from '../../../src/config/index.js';
import { createLogger } from '../../../src/logging.js';
import { applyRestore, createUserServices, planRestore, publicKeyFingerprint, type UserServices } from '../../../src/users/index.js';
import { forgeIdentity, forgeKeyring, localBackendFiles } from '../../helpers/backend-attacker.js';
import { makeTempDir, type TempDir } from '../../helpers/tmp.js';
import { formatMountId } from '../../../src/keys/mount-id.js';

describe('restore planning', () => {
  let tmp: TempDir;
  let config: Config;
  let svc: UserServices;

  beforeEach(async () => {
    tmp = await makeTempDir('restore');
    config = resolveConfig(
      {
        store: 'memory://',
        keys: { argon2: { m: 1024, t: 1, p: 1 } },
        mounts: [
          { path: '/', backend: { type: 'local', root: './homes/u-{user}.d' } },
          { path: '/a', users: ['*'], backend: { type: 'local', root: './a' } },
          { path: '/b', users: ['carol', 'dave'], backend: { type: 'local', root: './b' } },
          { path: '/plain', encrypt: false, users: ['*'], backend: { type: 'local', root: './plain' } },
        ],
      },
      { cwd: tmp.path, env: {} },
    );
    svc = createUserServices(config, new Keyv(), createLogger({ silent: true }));
  });
  afterEach(async () => {
    await svc.close();
    await tmp.cleanup();
  });

  it('finds homes by the {user} segment, prefers the home identity, refuses what it cannot trust', async () => {
    const files = localBackendFiles(tmp.path);
    const alice = await forgeIdentity('user:alice', 'a');
    const aliceElsewhere = await forgeIdentity('user:alice', 'x');
    const carol = await forgeIdentity('user:carol', 'c');
    const carol2 = await forgeIdentity('user:carol', 'c2');
    const costly = await forgeIdentity('user:bob', 'b', { m: 8192, t: 1, p: 1 });
    const outsider = await forgeIdentity('user:erin', 'e');
    await files.put('homes/u-alice.d/.davcrypt/keyring.json', forgeKeyring([alice]).json);
    await files.put('homes/u-bob.d/.davcrypt/keyring.json', forgeKeyring([costly]).json);
    // Not a home folder of this template, or not a valid name: never looked at.
    await files.put('homes/alice/.davcrypt/keyring.json', forgeKeyring([aliceElsewhere]).json);
    await mkdir(join(tmp.path, 'homes', 'u-..d'), { recursive: true });
    // A home holds only its owner's account.
    await files.put('homes/u-zed.d/.davcrypt/keyring.json', forgeKeyring([outsider]).json);
    await files.put('a/.davcrypt/keyring.json', forgeKeyring([aliceElsewhere, carol]).json);
    await files.put('b/.davcrypt/keyring.json', forgeKeyring([carol2, outsider]).json); // erin is not a member of /b
    await files.put('plain/.davcrypt/keyring.json', forgeKeyring([outsider]).json); // not an encrypted mount

    expect(await svc.backends.homeNames(config.mounts[0]!)).toEqual(['alice', 'bob', 'zed']);
    const plan = await planRestore(config, svc);
    expect(plan.entries.map((e) => [e.name, e.status, e.sources.map(formatMountId), e.differing.map(formatMountId)])).toEqual([
      ['alice', 'adopt', ['home:alice'], ['shared:/a']],
      ['bob', 'out-of-bounds', ['home:bob'], []],
      ['carol', 'conflict', ['shared:/a'], ['shared:/b']],
    ]);
    const sha = createHash('sha256').update(alice.publicKey).digest('hex');
    expect(plan.entries[0]!.fingerprint).toBe(publicKeyFingerprint(alice.entry.publicKey));
    expect(plan.entries[0]!.fingerprint.replaceAll(' ', '')).toBe(sha);
    expect(plan.entries[1]!.reason).toMatch(/argon2 m = 8192 KiB is more than 4x the configured 1024/);

    expect(await applyRestore(svc, plan)).toEqual(['alice']);
    expect(await svc.records.get('alice')).toMatchObject({ publicKey: alice.entry.publicKey, envelope: alice.entry.envelope });
    expect(await svc.records.names()).toEqual(['alice']);
    // Only the names asked for.
    expect((await planRestore(config, svc, ['carol'])).entries.map((e) => e.name)).toEqual(['carol']);
  });
});
