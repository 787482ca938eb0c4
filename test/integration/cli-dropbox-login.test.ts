// `davcrypt dropbox login` end to end, as a user runs it: the real CLI in a child process
// prints the authorization URL, the Dropbox API test server "approves" it (what the
// browser page does), the code is typed on stdin, and the refresh token lands in a 0600
// token file that then opens the account. Tokens never appear in the output.
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefreshingDropboxToken } from '../../src/backends/dropbox-auth.js';
import { DropboxBackend } from '../../src/backends/dropbox.js';
import { DAVCRYPT_BIN } from '../helpers/cli.js';
import { startDropboxServer, type DropboxTestServer } from '../helpers/dropbox-server.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/** Runs the CLI; when it prints the URL, `answer(url)` gives the line typed back. */
function login(args: string[], answer: (url: string) => string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [DAVCRYPT_BIN, 'dropbox', 'login', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /(https:\/\/\S+oauth2\/authorize\S+)/.exec(stdout);
      if (m && !answered && stdout.includes('Paste the code')) {
        answered = true;
        child.stdin.end(answer(m[1]!) + '\n');
      }
    });
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('davcrypt dropbox login', () => {
  let dbx: DropboxTestServer;
  let tmp: TempDir;
  let configFile: string;
  let tokenFile: string;
  beforeAll(async () => {
    dbx = await startDropboxServer();
    tmp = await makeTempDir('dropbox-login');
    tokenFile = join(tmp.path, 'secrets', 'dropbox-token');
    configFile = join(tmp.path, 'davcrypt.yaml');
    await writeFile(configFile, [
      `dataDir: ${join(tmp.path, 'data')}`,
      'mounts:',
      '  - path: /',
      '    backend:',
      '      type: dropbox',
      "      root: '/davcrypt/{user}'",
      `      app: { key: ${dbx.appKey} }`,
      `      token: file:${tokenFile}`,
      `      apiBase: ${dbx.url}`,
      `      contentBase: ${dbx.url}`,
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await dbx?.close();
    await tmp?.cleanup();
  });

  it('prints a PKCE authorization URL, exchanges the pasted code and stores the refresh token 0600', async () => {
    let url = '';
    const r = await login(['--config', configFile], (u) => {
      url = u;
      return dbx.approve(u);
    });
    expect(r.code, r.stderr).toBe(0);
    const u = new URL(url);
    expect(u.origin + u.pathname).toBe('https://www.dropbox.com/oauth2/authorize');
    expect(u.searchParams.get('client_id')).toBe(dbx.appKey);
    expect(u.searchParams.get('code_challenge_method')).toBe('S256');
    expect(u.searchParams.get('token_access_type')).toBe('offline');
    const stored = (await readFile(tokenFile, 'utf8')).trim();
    expect(stored).toBe(dbx.refreshTokens.at(-1));
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain(stored);
    expect(r.stdout).toContain(tokenFile);
    // The stored token opens the account.
    const tokens = new RefreshingDropboxToken({ appKey: dbx.appKey, refreshToken: stored, apiBase: dbx.url });
    const b = new DropboxBackend({ root: '/', api: { tokens, apiBase: dbx.url, contentBase: dbx.url } });
    expect((await b.stat('/')).type).toBe('directory');
    await b.close();
  });

  it('a wrong code fails with DC_ERR_BACKEND_UNAUTHORIZED and stores nothing', async () => {
    const other = join(tmp.path, 'other-token');
    const r = await login(['--config', configFile, '--token-file', other], () => 'not-a-code');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DC_ERR_BACKEND_UNAUTHORIZED');
    await expect(stat(other)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('without an app key anywhere it is a usage error', async () => {
    const bare = join(tmp.path, 'bare.yaml');
    await writeFile(bare, `dataDir: ${join(tmp.path, 'data')}\nmounts:\n  - { path: /, backend: { type: dropbox, root: '/x/{user}', token: 'file:./t' } }\n`);
    const r = await login(['--config', bare, '--token-file', join(tmp.path, 't')], () => '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DC_ERR_USAGE');
  });
});
