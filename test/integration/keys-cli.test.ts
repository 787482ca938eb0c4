// The key-custody commands through the real entry point (bin/davcrypt.js as a
// child process): --help of each, usage errors exit 2, a DavcryptError prints
// `davcrypt: CODE: message` and exits 1, passwords are read from stdin lines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { runDavcrypt } from '../helpers/cli.js';

const davcrypt = (args: string[], stdin = '') => runDavcrypt(args, stdin);

describe('davcrypt recovery|mount|key|master (child process)', () => {
  let gw: TestGateway;
  let config: string;
  beforeAll(async () => {
    gw = await startTestGateway({ users: { alice: 'alice-pw' } });
    const res = await fetch(new URL('/x.txt', gw.url), { method: 'PUT', body: 'x', headers: { authorization: gw.authHeader() } });
    expect(res.status).toBeLessThan(300);
    config = await gw.configFile();
  });
  afterAll(async () => gw?.close());

  it('every command has --help; unknown subcommands are usage errors', async () => {
    for (const [cmd, first] of [['recovery', 'usage: davcrypt recovery'], ['mount', 'usage: davcrypt mount'], ['key', 'usage: davcrypt key'], ['master', 'usage: davcrypt master']]) {
      const help = await davcrypt([cmd!, '--help']);
      expect(help.code, cmd).toBe(0);
      expect(help.stdout.startsWith(first!), cmd).toBe(true);
    }
    const bad = await davcrypt(['key', 'frobnicate', '/', '--config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: unknown key command frobnicate/);
    expect((await davcrypt(['--help'])).stdout).toMatch(/recovery +admin recovery identity/);
  });

  it('recovery init reads the passwords from stdin lines; a second init fails with DC_ERR_EXISTS', async () => {
    const init = await davcrypt(['recovery', 'init', '--user', 'alice', '--config', config], 'rec-pw\nalice-pw\n');
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^COVERED\thome:alice\t1\/1 keys wrapped to recovery$/m);
    const again = await davcrypt(['recovery', 'init', '--config', config], 'x\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^davcrypt: DC_ERR_EXISTS: a recovery identity already exists/);
    const short = await davcrypt(['recovery', 'reset-password', 'alice', '--config', config], 'only-one-line\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/DC_ERR_USAGE: expected recovery password, then new password for alice on stdin/);
  });
});
