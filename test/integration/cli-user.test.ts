// The `davcrypt user` commands as a real child process (bin/davcrypt.js through tsx),
// password on stdin, against a sqlite store and local storage in a temp folder.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { runDavcrypt } from '../helpers/cli.js';

const davcrypt = (args: string[], stdin: string, cwd: string, env: NodeJS.ProcessEnv = {}) => runDavcrypt(args, stdin, { cwd, env });

describe('davcrypt user (child process)', () => {
  let tmp: TempDir;
  let config: string;

  beforeAll(async () => {
    tmp = await makeTempDir('cli-user');
    config = join(tmp.path, 'davcrypt.yaml');
    await writeFile(
      config,
      ['dataDir: ./data', 'keys:', '  argon2: { m: 1024, t: 1, p: 1 }', 'mounts:', '  - path: /', '    backend:', '      type: local', '      root: ./storage/{user}', ''].join('\n'),
    );
  });
  afterAll(async () => tmp.cleanup());

  it('add, list, passwd, remove with passwords on stdin; errors are `davcrypt: CODE: message`', async () => {
    const add = await davcrypt(['user', 'add', 'alice', '--config', config], 'first pw\n', tmp.path);
    expect(add.stderr).toBe('');
    expect(add).toMatchObject({ code: 0, stdout: 'user alice added\n' });
    expect((await davcrypt(['user', 'add', 'bob', '--config', config], 'bob password', tmp.path)).code).toBe(0); // no trailing newline

    const dup = await davcrypt(['user', 'add', 'alice', '--config', config], 'x\n', tmp.path);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^davcrypt: DC_ERR_EXISTS: user alice already exists/);

    const list = await davcrypt(['user', 'list', '--config', config], '', tmp.path);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['alice', 'bob']);

    const badOld = await davcrypt(['user', 'passwd', 'alice', '--config', config], 'nope\nsecond pw\n', tmp.path);
    expect(badOld.code).toBe(1);
    expect(badOld.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: /);
    const passwd = await davcrypt(['user', 'passwd', 'alice', '--config', config], 'first pw\nsecond pw\n', tmp.path);
    expect(passwd.code).toBe(0);
    expect(passwd.stdout).toMatch(/^password of alice changed/);

    // The store the CLI wrote is the one the gateway reads: the new password logs in.
    const cfg = await loadConfig(config, { cwd: tmp.path, env: { DAVCRYPT_PORT: '0' } });
    const gw = await startGateway(cfg, { logger: createLogger({ silent: true }), skipInitialAdmin: true });
    try {
      await gw.users.authenticator.authenticate('alice', 'second pw', '127.0.0.1');
      await expect(gw.users.authenticator.authenticate('alice', 'first pw', '127.0.0.1')).rejects.toMatchObject({ code: 'DC_ERR_UNAUTHORIZED' });
    } finally {
      await gw.close();
    }

    const remove = await davcrypt(['user', 'remove', 'bob', '--config', config], '', tmp.path);
    expect(remove.code).toBe(0);
    expect(remove.stdout).toMatch(/user bob removed; her files and keyrings were kept \(in .*storage\/bob\)/);
    const list2 = await davcrypt(['user', 'list', '--config', config], '', tmp.path);
    expect(list2.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['alice']);
  });

  it('user add after a lost store: the old password adopts the home identity, another is refused', async () => {
    const cfgFile = join(tmp.path, 'adopt.yaml');
    await writeFile(
      cfgFile,
      ['dataDir: ./adopt-data', 'keys:', '  argon2: { m: 1024, t: 1, p: 1 }', 'mounts:', '  - path: /', '    backend:', '      type: local', '      root: ./adopt-storage/{user}', ''].join('\n'),
    );
    expect((await davcrypt(['user', 'add', 'carol', '--config', cfgFile], 'carol-pw\n', tmp.path)).code).toBe(0);
    // First use of her home creates the mount key and the keyring on the backend.
    const cfg = await loadConfig(cfgFile, { cwd: tmp.path, env: { DAVCRYPT_PORT: '0' } });
    const gw = await startGateway(cfg, { logger: createLogger({ silent: true }), skipInitialAdmin: true });
    try {
      const user = await gw.users.authenticator.authenticate('carol', 'carol-pw', '127.0.0.1');
      await gw.users.authenticator.mountsFor(user);
    } finally {
      await gw.close();
    }
    await rm(join(tmp.path, 'adopt-data'), { recursive: true, force: true });

    const refused = await davcrypt(['user', 'add', 'carol', '--config', cfgFile], 'not-carols\n', tmp.path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^davcrypt: DC_ERR_WRONG_PASSWORD: .*already holds identity user:carol.*Nothing was changed/s);
    expect((await davcrypt(['user', 'list', '--config', cfgFile], '', tmp.path)).stdout).toBe('');
    const adopted = await davcrypt(['user', 'add', 'carol', '--config', cfgFile], 'carol-pw\n', tmp.path);
    expect(adopted.code).toBe(0);
    expect(adopted.stdout).toMatch(/^user carol added: adopted the identity/);
  });

  it('lost store on a shared mount (no {user} home): the old password adopts by user add, restore brings the others; files read', async () => {
    const cfgFile = join(tmp.path, 'shared.yaml');
    await writeFile(
      cfgFile,
      ['dataDir: ./shared-data', 'auth: { minPasswordLength: 1 }', 'keys:', '  argon2: { m: 1024, t: 1, p: 1 }', 'mounts:', '  - path: /', '    users: [dave, erin]',
        '    backend:', '      type: local', '      root: ./shared-storage', ''].join('\n'),
    );
    expect((await davcrypt(['user', 'add', 'dave', '--config', cfgFile], 'dave-pw\n', tmp.path)).code).toBe(0);
    expect((await davcrypt(['user', 'add', 'erin', '--config', cfgFile], 'erin-pw\n', tmp.path)).code).toBe(0);
    const cfg = await loadConfig(cfgFile, { cwd: tmp.path, env: { DAVCRYPT_PORT: '0' } });
    const { Readable } = await import('node:stream');
    const { text } = await import('node:stream/consumers');
    let gw = await startGateway(cfg, { logger: createLogger({ silent: true }), skipInitialAdmin: true });
    try {
      // dave's first use creates the mount key; erin's first use adds her wrap (she is a listed member).
      const [mount] = await gw.users.authenticator.mountsFor(await gw.users.authenticator.authenticate('dave', 'dave-pw', '127.0.0.1'));
      await mount!.backend.write('/note.txt', Readable.from([Buffer.from('shared secret')]), { size: 13 });
      await gw.users.authenticator.mountsFor(await gw.users.authenticator.authenticate('erin', 'erin-pw', '127.0.0.1'));
    } finally {
      await gw.close();
    }
    await rm(join(tmp.path, 'shared-data'), { recursive: true, force: true });

    const refused = await davcrypt(['user', 'add', 'dave', '--config', cfgFile], 'not-daves\n', tmp.path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/DC_ERR_WRONG_PASSWORD: .*shared:\/.*already holds identity user:dave/s);
    const adopted = await davcrypt(['user', 'add', 'dave', '--config', cfgFile], 'dave-pw\n', tmp.path);
    expect(adopted.code).toBe(0);
    expect(adopted.stdout).toMatch(/^user dave added: adopted the identity/);

    gw = await startGateway(cfg, { logger: createLogger({ silent: true }), skipInitialAdmin: true });
    try {
      const [mount] = await gw.users.authenticator.mountsFor(await gw.users.authenticator.authenticate('dave', 'dave-pw', '127.0.0.1'));
      expect(await text((await mount!.backend.read('/note.txt')).body)).toBe('shared secret');
      // erin was not re-added: logging in never creates an account; davcrypt restore brings her back.
      await expect(gw.users.authenticator.authenticate('erin', 'erin-pw', '127.0.0.1')).rejects.toMatchObject({ code: 'DC_ERR_UNAUTHORIZED' });
      const restore = await davcrypt(['restore', '--yes', '--config', cfgFile], '', tmp.path);
      expect(restore.code).toBe(0);
      expect(restore.stdout).toMatch(/^SKIP dave\t/m);
      expect(restore.stdout).toMatch(/^ADOPT erin\tSHA-256 [0-9a-f ]{79}\t\(shared:\/\)$/m);
      expect(restore.stdout).toMatch(/restore: 1 user restored: erin/);
      await expect(gw.users.authenticator.authenticate('erin', 'wrong', '127.0.0.1')).rejects.toMatchObject({ code: 'DC_ERR_UNAUTHORIZED' });
      const [hers] = await gw.users.authenticator.mountsFor(await gw.users.authenticator.authenticate('erin', 'erin-pw', '127.0.0.1'));
      expect(await text((await hers!.backend.read('/note.txt')).body)).toBe('shared secret');
    } finally {
      await gw.close();
    }
  });

  it('usage errors exit 2; --help and --version exit 0', async () => {
    const none = await davcrypt(['user', 'add', '--config', config], 'pw\n', tmp.path);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: user add needs a NAME/);
    const bad = await davcrypt(['user', 'add', '../etc', '--config', config], 'pw\n', tmp.path);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/DC_ERR_USAGE: invalid user name/);
    const noPw = await davcrypt(['user', 'add', 'carol', '--config', config], '', tmp.path);
    expect(noPw.code).toBe(2);
    const unknown = await davcrypt(['frobnicate'], '', tmp.path);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: unknown command frobnicate/);
    const opt = await davcrypt(['user', 'list', '--bogus'], '', tmp.path);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: /);
    const helps = await Promise.all([['--help'], ['serve', '--help'], ['user', '--help']].map((args) => davcrypt(args, '', tmp.path)));
    for (const help of helps) {
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^usage: davcrypt/);
    }
    const version = await davcrypt(['--version'], '', tmp.path);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^davcrypt \d+\.\d+\.\d+\n$/) });
    const badConfig = await davcrypt(['user', 'list', '--config', join(tmp.path, 'missing.yaml')], '', tmp.path);
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^davcrypt: DC_ERR_CONFIG: cannot read config file/);
  });
});
