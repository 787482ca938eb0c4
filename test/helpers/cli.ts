// Runs the real `davcrypt` command (bin/davcrypt.js) as a child process, the way a user
// or a script does: arguments, stdin text (passwords one per line), optional cwd and env.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join, resolve } from 'node:path';

export const DAVCRYPT_BIN = resolve(import.meta.dirname, '../../bin/davcrypt.js');

export interface DavcryptRun {
  code: number | null;
  stdout: string;
  /** stderr without the notice lines below, so tests can expect '' or an error line first. */
  stderr: string;
  /** The `davcrypt: using config …` / `davcrypt: reading storage …` lines every command prints on stderr. */
  notices: string[];
}

/** Lines a command prints to say which config, store and storage it uses (src/cli/config-notice.ts). */
const NOTICE = /^davcrypt: (using config |reading storage )/;

export function runDavcrypt(args: string[], stdin = '', opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<DavcryptRun> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [DAVCRYPT_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = stderr.split(/(?<=\n)/);
      done({ code, stdout, stderr: lines.filter((l) => !NOTICE.test(l)).join(''), notices: lines.filter((l) => NOTICE.test(l)).map((l) => l.trimEnd()) });
    });
    child.stdin.end(stdin);
  });
}

/** Every file below `dir` as sorted '/a/b' paths (what an offline tool wrote out). */
export async function listFilesBelow(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listFilesBelow(join(dir, e.name), `${prefix}/${e.name}`)));
    else out.push(`${prefix}/${e.name}`);
  }
  return out.sort();
}

/** I/O for a CLI command run in-process: `stdin` as the password input, stdout captured, stderr dropped. */
export function inProcessCliIO(stdin: string, env?: NodeJS.ProcessEnv) {
  let stdout = '';
  return {
    io: {
      stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { isTTY: false, write: () => true },
      input: Readable.from([stdin]) as unknown as NodeJS.ReadableStream,
      output: { write: () => true } as unknown as NodeJS.WritableStream,
      ...(env ? { env } : {}),
    },
    stdout: () => stdout,
  };
}
