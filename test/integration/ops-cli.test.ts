// The operations commands as a real child process (bin/davcrypt.js): audit lines of
// the user and key commands (done and failed, never a password, nothing for usage
// errors or read-only commands), and `davcrypt check-config` on good and broken
// configs with its exit status.
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDavcrypt } from '../helpers/cli.js';
import { auditLines } from '../helpers/ops.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startTestGateway } from '../helpers/gateway.js';

const BASE = ['dataDir: ./data', 'keys:', '  argon2: { m: 1024, t: 1, p: 1 }'];
const MOUNTS = [
  'mounts:',
  '  - path: /',
  '    backend: { type: local, root: ./storage/{user} }',
  '  - path: /team',
  '    users: [alice, bob]',
  '    backend: { type: local, root: ./storage/team }',
];

/** A loopback port nobody listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('audit lines of the CLI user and key commands', () => {
  let tmp: TempDir;
  let config: string;
  const run = (args: string[], stdin = '') => runDavcrypt([...args, '--config', config], stdin, { cwd: tmp.path });

  beforeAll(async () => {
    tmp = await makeTempDir('ops-cli-audit');
    config = join(tmp.path, 'davcrypt.yaml');
    await writeFile(config, [...BASE, ...MOUNTS, 'audit: { file: ./log/audit.log }', ''].join('\n'));
  });
  afterAll(async () => tmp.cleanup());

  it('one line per run with outcome, names and the OS user; never a password', async () => {
    expect((await run(['user', 'add', 'alice'], 'alice secret 1\n')).code).toBe(0);
    expect((await run(['user', 'add', 'bob'], 'bob secret 1\n')).code).toBe(0);
    expect((await run(['user', 'add', 'alice'], 'alice secret 2\n')).code).toBe(1);
    expect((await run(['user', 'passwd', 'alice'], 'not her password\nalice secret 3\n')).code).toBe(1);
    expect((await run(['user', 'passwd', 'alice'], 'alice secret 1\nalice secret 3\n')).code).toBe(0);
    expect((await run(['recovery', 'init', '--user', 'alice'], 'recovery secret\nalice secret 3\n')).code).toBe(0);
    // No keyring yet (alice never wrote a file): refused, and audited as failed.
    expect((await run(['key', 'rotate', '/', '--user', 'alice'])).code).toBe(1);
    expect((await run(['mount', 'revoke', '/team', 'bob'])).code).toBe(0);
    expect((await run(['user', 'remove', 'bob'])).code).toBe(0);
    // Not audited: a read-only command and a usage error (nothing was attempted).
    expect((await run(['user', 'list'])).code).toBe(0);
    expect((await run(['user', 'add'])).code).toBe(2);

    const lines = await auditLines(join(tmp.path, 'log/audit.log'));
    expect(lines.map((l) => `${String(l.event)} ${String(l.outcome)}`)).toEqual([
      'user.add ok', 'user.add ok', 'user.add failed', 'user.passwd failed', 'user.passwd ok',
      'recovery.init ok', 'key.rotate failed', 'mount.revoke ok', 'user.remove ok',
    ]);
    expect(lines[0]).toMatchObject({ event: 'user.add', user: 'alice', outcome: 'ok', exitCode: 0, via: 'cli' });
    expect(typeof lines[0]!.by).toBe('string');
    expect(lines[2]).toMatchObject({ user: 'alice', outcome: 'failed', code: 'DC_ERR_EXISTS', exitCode: 1 });
    expect(lines[3]).toMatchObject({ user: 'alice', code: 'DC_ERR_WRONG_PASSWORD' });
    expect(lines[5]).toMatchObject({ event: 'recovery.init', users: ['alice'] });
    expect(lines[6]).toMatchObject({ event: 'key.rotate', mount: '/', user: 'alice', code: 'DC_ERR_NO_ACCESS' });
    expect(lines[7]).toMatchObject({ event: 'mount.revoke', mount: '/team', user: 'bob' });
    const text = JSON.stringify(lines);
    for (const secret of ['secret', 'not her password']) expect(text).not.toContain(secret);
  });
});

describe('davcrypt check-config', () => {
  let tmp: TempDir;
  const write = async (name: string, lines: string[]) => {
    const file = join(tmp.path, name);
    await writeFile(file, lines.join('\n') + '\n');
    return file;
  };
  const check = (file: string) => runDavcrypt(['check-config', '--config', file, '--timeout', '3'], '', { cwd: tmp.path });

  beforeAll(async () => {
    tmp = await makeTempDir('ops-check-config');
  });
  afterAll(async () => tmp.cleanup());

  it('passes a good config with a WebDAV backend, one "ok" line per check, exit 0, creating nothing', async () => {
    const backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    try {
      const file = await write('good.yaml', [
        ...BASE, ...MOUNTS,
        '  - path: /remote',
        '    users: [alice]',
        `    backend: { type: webdav, url: '${backend.url}', username: svc, password: env:SVC_PW }`,
        'audit: { file: ./log/audit.log }',
      ]);
      const r = await runDavcrypt(['check-config', '--config', file], '', { cwd: tmp.path, env: { SVC_PW: 'svc-pw' } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(`ok    config ${file}`);
      for (const name of ['dataDir ', 'audit.file ', 'store sqlite://', 'backend / ', 'backend /team ', 'backend /remote ']) {
        expect(lines.some((l) => l.startsWith(`ok    ${name}`))).toBe(true);
      }
      expect(lines.find((l) => l.startsWith('ok    store'))).toMatch(/will be created/);
      expect(lines.at(-1)).toBe('all 7 checks passed');
      expect(r.stdout).not.toContain('svc-pw');
      // Nothing was created by checking.
      await expect(import('node:fs/promises').then((fs) => fs.stat(join(tmp.path, 'data')))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await backend.close();
    }
  });

  it('fails an invalid file with the key and the fix, exit 1, no probes', async () => {
    const file = await write('invalid.yaml', [...BASE, 'server: { metrics: { port: 99999 } }', 'audit: { file: a, stdout: true }', ...MOUNTS]);
    const r = await check(file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}config .*invalid\.yaml: DC_ERR_CONFIG: /);
    expect(r.stdout).toContain('server.metrics.port: must be an integer from 0 to 65535');
    expect(r.stdout).toContain('audit: give either file or stdout: true, not both');
    expect(r.stdout).not.toMatch(/^ok/m);
  });

  it('names each unreachable part: a WebDAV backend nobody answers, a wrong backend password, a Redis store that is down', async () => {
    const backend = await startTestGateway({ users: { svc: 'svc-pw' }, encrypt: false });
    const deadPort = await closedPort();
    try {
      const file = await write('broken.yaml', [
        'dataDir: ./data', `store: redis://127.0.0.1:${deadPort}`,
        'mounts:',
        '  - path: /',
        '    backend: { type: local, root: ./storage/{user} }',
        '  - path: /gone',
        '    users: [alice]',
        `    backend: { type: webdav, url: 'http://127.0.0.1:${deadPort}/dav/' }`,
        '  - path: /locked',
        '    users: [alice]',
        `    backend: { type: webdav, url: '${backend.url}', username: svc, password: wrong-password }`,
      ]);
      const r = await check(file);
      expect(r.code).toBe(1);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toContain(`ok    config ${file}`);
      expect(lines.find((l) => l.startsWith('FAIL  store redis://127.0.0.1:'))).toBeDefined();
      expect(lines.find((l) => l.startsWith('FAIL  backend /gone: '))).toBeDefined();
      expect(lines.find((l) => l.startsWith('FAIL  backend /locked: DC_ERR_BACKEND_UNAUTHORIZED'))).toBeDefined();
      expect(lines.find((l) => l.startsWith('ok    backend / '))).toBeDefined();
      expect(lines.at(-1)).toBe('3 of 6 checks failed');
      expect(r.stdout).not.toContain('wrong-password');
    } finally {
      await backend.close();
    }
  });

  it('is listed in the help and exits 2 on usage errors', async () => {
    const help = await runDavcrypt(['--help'], '');
    expect(help.stdout).toMatch(/check-config/);
    const bad = await runDavcrypt(['check-config', 'extra'], '');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^davcrypt: DC_ERR_USAGE: unexpected argument extra/);
  });
});
