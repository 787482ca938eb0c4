// deploy/davcrypt.service as systemd reads it: `systemd-analyze verify` reports no
// unknown or invalid setting (it only warns, so any output fails the test).
// Skips when systemd-analyze is not installed.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const UNIT = resolve(import.meta.dirname, '../../deploy/davcrypt.service');
const missing = spawnSync('systemd-analyze', ['--version']).status === 0 ? undefined : 'systemd-analyze not installed (apt-get install systemd)';
if (missing) console.warn(`[skip] ops-systemd: ${missing}`);

describe.skipIf(missing !== undefined)('deploy/davcrypt.service', () => {
  it('passes systemd-analyze verify without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    // /usr/bin/node missing is the only acceptable complaint (a host without a system node).
    const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim());
    const output = lines.filter((l) => !/\/usr\/bin\/node/.test(l));
    expect(output).toEqual([]);
    if (output.length === lines.length) expect(r.status).toBe(0);
  });
});
