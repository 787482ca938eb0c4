// The stderr progress bar: silent off a terminal, throttled, shows totals and clears.
import { describe, expect, it } from 'vitest';
import { createProgressBar } from '../../../src/cli/progress.js';

function fakeTty(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 100, write: (s: string) => (writes.push(s), true) }, writes };
}

describe('createProgressBar', () => {
  it('draws nothing when stderr is not a terminal', () => {
    const { stream } = fakeTty(false);
    expect(createProgressBar('recover', stream)).toBeUndefined();
  });

  it('shows counts against totals, redraws at most every 100 ms, and clears the line at the end', () => {
    const { stream, writes } = fakeTty(true);
    let t = 1000;
    const bar = createProgressBar('verify', stream, () => t)!;
    bar.setTotals(4, 4096);
    expect(writes.at(-1)).toContain('[..........'.slice(0, 5));
    bar.fileStarted!('/a.bin', 2048);
    bar.bytes!(2048); // within 100 ms of the last draw: not drawn
    const drawn = writes.length;
    t += 150;
    bar.fileDone!('/a.bin');
    expect(writes.length).toBe(drawn + 1);
    expect(writes.at(-1)).toMatch(/verify \[#{10}\.{10}\] {2}50% 1\/4 files 2\.0 KiB\/4\.0 KiB \/a\.bin/);
    bar.finish();
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });
});
