// Argument handling of recover / verify / encrypt-all: usage errors are DC_ERR_USAGE
// before any password is read or storage touched; --help prints and returns 0.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runMigrate } from '../../../src/cli/migrate.js';
import { runRecover } from '../../../src/cli/recover.js';
import { runVerify } from '../../../src/cli/verify.js';

function io() {
  let out = '';
  return {
    io: {
      stdout: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { isTTY: false, write: () => true },
      input: Readable.from([]) as unknown as NodeJS.ReadableStream,
      output: { write: () => true } as unknown as NodeJS.WritableStream,
      env: {},
    },
    out: () => out,
  };
}

describe('tool commands: arguments', () => {
  it('--help prints usage with exit codes', async () => {
    for (const run of [
      (x: ReturnType<typeof io>) => runRecover(['--help'], x.io),
      (x: ReturnType<typeof io>) => runVerify(['--help'], x.io, 'none.yaml'),
      (x: ReturnType<typeof io>) => runMigrate('encrypt', ['--help'], x.io, 'none.yaml'),
    ]) {
      const x = io();
      expect(await run(x)).toBe(0);
      expect(x.out()).toMatch(/^usage: davcrypt /);
      expect(x.out()).toContain('exit codes');
    }
  });

  it.each([
    [['--out', '/nonexistent-out/x', '--user', 'a']],
    [['--from', '/tmp', '--out', '/nonexistent-out/x']],
    [['--from', '/tmp', '--out', '/nonexistent-out/x', '--user', 'a', '--recovery']],
    [['--from', '/tmp', '--out', '/nonexistent-out/x', '--user', 'a', '--backend-user', 'u']],
    [['--from', '/tmp', '--out', '/nonexistent-out/x', '--user', 'a', 'extra']],
    [['--from', '/tmp', '--out', '/tmp/sub/out', '--user', 'a']],
  ])('recover %j is a usage error', async (args) => {
    await expect(runRecover(args, io().io)).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
  });

  it('recover from a missing folder is DC_ERR_NOT_FOUND', async () => {
    await expect(runRecover(['--from', '/nonexistent/davcrypt-x', '--out', '/nonexistent-out/x', '--user', 'a'], io().io)).rejects.toMatchObject({
      code: 'DC_ERR_NOT_FOUND',
    });
  });

  it('verify and the migrations refuse bad combinations', async () => {
    await expect(runVerify(['--from', '/tmp', '--config', 'x.yaml', '--user', 'a'], io().io, 'none.yaml')).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
    await expect(runVerify(['--config', 'x.yaml'], io().io, 'none.yaml')).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
    await expect(runMigrate('decrypt', ['--config', 'x.yaml'], io().io, 'none.yaml')).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
    await expect(runMigrate('encrypt', ['/a', '/b', '--user', 'x'], io().io, 'none.yaml')).rejects.toMatchObject({ code: 'DC_ERR_USAGE' });
  });
});
