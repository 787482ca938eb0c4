// server.workers: how many processes `davcrypt serve` runs, the config key and its
// environment override, and when the CLI may fork copies of itself.
import { describe, expect, it } from 'vitest';
import { canForkServe, serveWorkerCount, singleWorkerReason } from '../../../src/cli/serve-cluster.js';
import { parseConfig } from '../../../src/config/index.js';

const text = (server: string, store = 'sqlite:///srv/data/s.sqlite') =>
  `server: { ${server} }\nstore: ${store}\nmounts:\n  - path: /\n    backend: { type: local, root: /srv/files/{user} }\n`;

describe('server.workers', () => {
  it('defaults to one process per core (auto), and takes a number or auto', () => {
    expect(parseConfig(text('port: 8080'), { env: {}, cwd: '/srv' }).server.workers).toBeUndefined();
    expect(serveWorkerCount(parseConfig(text('port: 8080'), { env: {}, cwd: '/srv' }), 6)).toBe(6);
    expect(serveWorkerCount(parseConfig(text('workers: 3'), { env: {}, cwd: '/srv' }), 6)).toBe(3);
    expect(serveWorkerCount(parseConfig(text('workers: auto'), { env: {}, cwd: '/srv' }), 2)).toBe(2);
    expect(serveWorkerCount(parseConfig(text('workers: auto'), { env: {}, cwd: '/srv' }), 128)).toBe(64);
    expect(serveWorkerCount(parseConfig(text('workers: 1'), { env: {}, cwd: '/srv' }), 8)).toBe(1);
  });

  it('DAVCRYPT_WORKERS overrides the file; 0 and non-numbers are refused', () => {
    expect(parseConfig(text('workers: 4'), { env: { DAVCRYPT_WORKERS: '1' }, cwd: '/srv' }).server.workers).toBe(1);
    expect(() => parseConfig(text('workers: 0'), { env: {}, cwd: '/srv' })).toThrow(/server\.workers/);
    expect(() => parseConfig(text('port: 1'), { env: { DAVCRYPT_WORKERS: 'many' }, cwd: '/srv' })).toThrow(/DAVCRYPT_WORKERS/);
  });

  it('a memory:// store (inside one process) always runs one process, and says so', () => {
    expect(serveWorkerCount(parseConfig(text('workers: 4', 'memory://'), { env: {}, cwd: '/srv' }), 8)).toBe(1);
    expect(serveWorkerCount(parseConfig(text('port: 8080', 'memory://'), { env: {}, cwd: '/srv' }), 8)).toBe(1);
    expect(singleWorkerReason(parseConfig(text('port: 8080', 'memory://'), { env: {}, cwd: '/srv' }), 8)).toMatch(/memory:\/\/ store lives inside one process/);
    expect(singleWorkerReason(parseConfig(text('workers: 1', 'memory://'), { env: {}, cwd: '/srv' }), 8)).toBeUndefined();
    expect(singleWorkerReason(parseConfig(text('port: 8080'), { env: {}, cwd: '/srv' }), 8)).toBeUndefined();
  });

  it('forks only when the process entry is the davcrypt CLI, not a test runner calling runServe', () => {
    expect(canForkServe('/usr/lib/node_modules/davcrypt/bin/davcrypt.js')).toBe(true);
    expect(canForkServe('/usr/local/bin/davcrypt')).toBe(true);
    expect(canForkServe('/app/dist/cli.js')).toBe(true);
    expect(canForkServe('/repo/node_modules/vitest/vitest.mjs')).toBe(false);
    expect(canForkServe(undefined)).toBe(false);
  });
});
