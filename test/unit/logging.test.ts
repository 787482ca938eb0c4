import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import winston from 'winston';
import { BatchedConsoleTransport, FLUSH_BYTES, FLUSH_MS } from '../../src/logging.js';

function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } };
}

function loggerWith(transport: BatchedConsoleTransport): winston.Logger {
  return winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [transport] });
}

describe('BatchedConsoleTransport', () => {
  it('writes many info lines in one write, after at most FLUSH_MS', async () => {
    vi.useFakeTimers();
    try {
      const s = sinks();
      const t = new BatchedConsoleTransport(s);
      const log = loggerWith(t);
      for (let i = 0; i < 50; i++) log.info('request', { i });
      await vi.advanceTimersByTimeAsync(0);
      expect(s.out).toEqual([]);
      await vi.advanceTimersByTimeAsync(FLUSH_MS);
      expect(s.out).toHaveLength(1);
      const lines = s.out[0]!.trimEnd().split('\n').map((l) => JSON.parse(l) as { i: number });
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      t.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes at once past FLUSH_BYTES', async () => {
    const s = sinks();
    const t = new BatchedConsoleTransport(s);
    const log = loggerWith(t);
    const big = 'x'.repeat(1024);
    for (let i = 0; i < Math.ceil(FLUSH_BYTES / 1024) + 1; i++) log.info(big);
    await new Promise((r) => setImmediate(r));
    expect(s.out.length).toBeGreaterThanOrEqual(1);
    t.close();
  });

  it('writes errors and warnings to stderr at once, after the lines logged before them', async () => {
    const s = sinks();
    const order: string[] = [];
    const t = new BatchedConsoleTransport({
      stdout: { write: (x: string) => order.push('out:' + x) },
      stderr: { write: (x: string) => order.push('err:' + x) },
    });
    const log = loggerWith(t);
    log.info('first');
    log.error('broken');
    await new Promise((r) => setImmediate(r));
    expect(order).toHaveLength(2);
    expect(order[0]).toMatch(/^out:.*first/);
    expect(order[1]).toMatch(/^err:.*broken/);
    expect(s.out).toEqual([]);
    t.close();
  });

  it('writes pending lines when the process exits', () => {
    const logging = fileURLToPath(new URL('../../src/logging.ts', import.meta.url));
    const script = `import { createLogger } from ${JSON.stringify(logging)};
      const log = createLogger({ json: true });
      log.info('last words', { n: 1 });
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('"message":"last words"');
  });
});
