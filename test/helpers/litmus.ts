// Runs one litmus suite (basic, copymove, props, locks, http) against a URL and
// parses its summary line. Finds the litmus test programs the Debian package
// installs; callers skip with the returned reason when litmus is missing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LITMUS_SUITES = ['basic', 'copymove', 'props', 'locks', 'http'] as const;

export interface LitmusResult {
  suite: string;
  run: number;
  passed: number;
  failed: number;
  warnings: number;
  /** Lines naming failed tests (for assertion messages). */
  failures: string[];
  output: string;
}

/** undefined when litmus can run here, else why not. */
export function litmusUnavailable(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v litmus'], { encoding: 'utf8' });
  if (which.status !== 0) return 'litmus is not installed (apt-get install litmus)';
  if (!LITMUS_SUITES.every((s) => existsSync(join(litmusRoot(), s)))) return `litmus test programs not found in ${litmusRoot()}`;
  return undefined;
}

function litmusRoot(): string {
  return ['/usr/libexec/litmus', '/usr/lib/litmus'].find((d) => existsSync(join(d, 'basic'))) ?? '/usr/libexec/litmus';
}

/** Runs one suite (each suite is run separately, as litmus recommends). */
export async function runLitmusSuite(suite: string, url: string, user: string, password: string, timeoutMs = 300_000): Promise<LitmusResult> {
  const cwd = await mkdtemp(join(tmpdir(), 'davcrypt-litmus-'));
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('litmus', ['-k', url, user, password], { cwd, env: { ...process.env, TESTS: suite, TESTROOT: litmusRoot() } });
      let out = '';
      child.stdout.on('data', (d) => { out += String(d); });
      child.stderr.on('data', (d) => { out += String(d); });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`litmus ${suite} timed out\n${out}`)); }, timeoutMs);
      child.on('error', (err) => { clearTimeout(timer); reject(err); });
      child.on('close', () => { clearTimeout(timer); resolve(out); });
    });
    const m = /summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/.exec(output);
    const warnings = /-> (\d+) warnings? (?:was|were) issued/.exec(output);
    return {
      suite, output,
      run: m ? Number(m[2]) : 0, passed: m ? Number(m[3]) : 0, failed: m ? Number(m[4]) : -1,
      warnings: warnings ? Number(warnings[1]) : 0,
      failures: output.split('\n').filter((l) => /FAIL/.test(l)),
    };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
