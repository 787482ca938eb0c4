// The packaging files agree with the code and with each other: the example configs in
// deploy/ and docker/ validate, the systemd unit makes writable exactly what the
// deploy config writes (data folder, audit folder) and keeps its hardening, and the
// compose file health-checks /readyz on the port the Docker config serves.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/index.js';

const REPO = resolve(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');
const env = { BACKEND_PASSWORD: 'x' };

describe('deploy/ and docker/', () => {
  it('the example configs validate, with metrics and audit on', () => {
    const deploy = parseConfig(read('deploy/davcrypt.yaml'), { env, cwd: '/' });
    expect(deploy.server.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(deploy.audit).toEqual({ file: '/var/log/davcrypt/audit.log' });
    const docker = parseConfig(read('docker/davcrypt.yaml'), { env, cwd: '/' });
    expect(docker.server.metrics?.port).toBe(9464);
    expect(docker.audit).toEqual({ stdout: true });
  });

  it('the systemd unit is hardened and lets the service write exactly its data and audit folders', () => {
    const unit = read('deploy/davcrypt.service');
    const values = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
    for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes'], ['PrivateDevices', 'yes'], ['CapabilityBoundingSet', '']]) {
      expect(values(key), key).toEqual([value]);
    }
    const writable = values('ReadWritePaths').join(' ').split(/\s+/);
    const deploy = parseConfig(read('deploy/davcrypt.yaml'), { env, cwd: '/' });
    expect(writable).toContain(deploy.dataDir);
    expect(writable).toContain(dirname((deploy.audit as { file: string }).file));
    expect(values('ExecStart')[0]).toContain('serve --config /etc/davcrypt/davcrypt.yaml');
  });

  it('compose health-checks /readyz on the gateway port and publishes the metrics port on loopback', () => {
    const compose = parse(read('docker/compose.yaml')) as { services: Record<string, { healthcheck?: { test: string[] }; ports?: string[] }> };
    const gw = compose.services.davcrypt!;
    const docker = parseConfig(read('docker/davcrypt.yaml'), { env, cwd: '/' });
    expect(gw.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${docker.server.port}/readyz`);
    expect(gw.ports).toContain(`127.0.0.1:${docker.server.metrics!.port}:${docker.server.metrics!.port}`);
    expect(Object.keys(compose.services).sort()).toEqual(['backend', 'davcrypt', 'redis']);
  });
});
