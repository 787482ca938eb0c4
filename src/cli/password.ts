// Reads passwords for the `user` commands: without echo on a terminal (asked
// twice for a new password), else one line per password from stdin. Never
// prints or logs what it reads.
import { createInterface } from 'node:readline';
import { davError } from '../errors.js';

export interface PasswordIO {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  output: NodeJS.WritableStream;
}

/**
 * The password policy for a password being set (not for one being checked): at least `min`
 * characters (auth.minPasswordLength). Throws DC_ERR_USAGE naming the key; nothing is changed.
 */
export function assertNewPassword(password: string, min: number, what = 'the new password'): void {
  if ([...password].length < min) {
    throw davError('DC_ERR_USAGE', `${what} is too short: at least ${min} characters (auth.minPasswordLength in the config); nothing was changed`);
  }
}

const defaultIO = (): PasswordIO => ({ input: process.stdin, output: process.stderr });

/**
 * Reads the passwords named by `prompts` in order. On a terminal each is prompted without echo and
 * `confirm` ones are asked twice; otherwise one line each is read from the input.
 * Throws DC_ERR_USAGE when input ends early or a confirmation differs.
 */
export async function readPasswords(prompts: { label: string; confirm?: boolean }[], io: PasswordIO = defaultIO()): Promise<string[]> {
  if (io.input.isTTY && io.input.setRawMode) {
    const out: string[] = [];
    for (const p of prompts) {
      const first = await promptHidden(`${p.label}: `, io);
      if (p.confirm) {
        const again = await promptHidden(`${p.label} (again): `, io);
        if (again !== first) throw davError('DC_ERR_USAGE', 'the two passwords differ; nothing was changed');
      }
      out.push(first);
    }
    return out;
  }
  const lines = await readLines(io.input, prompts.length);
  if (lines.length < prompts.length) {
    throw davError('DC_ERR_USAGE', `expected ${prompts.map((p) => p.label).join(', then ')} on stdin, one per line`);
  }
  return lines;
}

function readLines(input: NodeJS.ReadableStream, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length === count) rl.close();
    });
    rl.on('close', () => {
      (input as NodeJS.ReadableStream & { pause?(): void }).pause?.();
      resolve(lines.slice(0, count));
    });
    input.on('error', reject);
  });
}

function promptHidden(prompt: string, io: PasswordIO): Promise<string> {
  const input = io.input;
  return new Promise((resolve, reject) => {
    io.output.write(prompt);
    let value = '';
    input.setRawMode!(true);
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode!(false);
      input.pause();
      input.removeListener('data', onData);
      io.output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(davError('DC_ERR_ABORTED', 'interrupted'));
        if (ch === '\u0004' && value === '') return done(davError('DC_ERR_USAGE', 'no password given'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
