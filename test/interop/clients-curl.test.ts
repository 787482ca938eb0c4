// Runs the curl block of docs/CLIENTS.md exactly as written (bash, set -eu) against the
// composed, encrypted gateway, so the documented commands stay true. Skips with a printed
// reason when curl is missing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const missing = spawnSync('sh', ['-c', 'command -v curl']).status === 0 ? undefined : 'curl not installed (apt-get install curl)';
if (missing) console.warn(`skipping curl docs interop: ${missing}`);

/** The fenced sh block following the `tested: …clients-curl` marker in docs/CLIENTS.md. */
async function documentedBlock(): Promise<string> {
  const doc = await readFile(new URL('../../docs/CLIENTS.md', import.meta.url), 'utf8');
  const at = doc.indexOf('<!-- tested: test/interop/clients-curl.test.ts');
  expect(at).toBeGreaterThan(0);
  const m = /```sh\n([\s\S]*?)```/.exec(doc.slice(at));
  expect(m).not.toBeNull();
  return m![1]!;
}

describe.skipIf(!!missing)('docs/CLIENTS.md curl examples', () => {
  let gw: TestGateway;
  let cwd: string;
  beforeAll(async () => {
    gw = await startTestGateway({ users: { erin: 'erin-pw' } });
    cwd = await mkdtemp(join(tmpdir(), 'davcrypt-curl-'));
  });
  afterAll(async () => {
    await gw?.close();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('run as written and do what they say', async () => {
    const script = await documentedBlock();
    const notes = 'hello from the curl docs\n';
    await writeFile(join(cwd, 'notes.txt'), notes);
    const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
        cwd, env: { ...process.env, DAV: gw.url.replace(/\/$/, ''), DAVUSER: 'erin', DAVPASS: 'erin-pw' },
      });
      let text = '';
      child.stdout.on('data', (d) => { text += String(d); });
      child.stderr.on('data', (d) => { text += String(d); });
      child.on('close', (c) => resolve({ code: c ?? -1, out: text }));
    });
    expect(code, out).toBe(0);
    expect(await readFile(join(cwd, 'notes.copy.txt'), 'utf8')).toBe(notes);
    expect(out).toContain('hello\n');
    expect(out).toContain('<D:href>/reports/notes.txt</D:href>');
    expect(out).toMatch(/<D:quota-available-bytes>\d+</);
    const gone = await fetch(new URL('reports/', gw.url), { method: 'PROPFIND', headers: { authorization: gw.authHeader('erin'), depth: '0' } });
    expect(gone.status).toBe(404);
  });
});
