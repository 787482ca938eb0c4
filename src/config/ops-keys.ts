// Validation of the operations keys: `server.metrics` (the Prometheus listener) and
// `audit` (where audit lines go). Kept beside load.ts so the main validator only calls
// in; same rules: every problem names the key and the fix, nothing is opened here.
import { resolve } from 'node:path';
import type { AuditConfig, MetricsListenerConfig } from './types.js';

/** Reports one problem (load.ts's Validator.bad). */
export type Complain = (key: string, fix: string) => void;

/** Default port of the metrics listener (9464: the port Prometheus exporters commonly use for app metrics). */
export const DEFAULT_METRICS_PORT = 9464;

/** `server.metrics: { host, port }`; undefined (off) when absent, null or false. */
export function resolveMetricsListener(value: unknown, bad: Complain): MetricsListenerConfig | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    bad('server.metrics', 'must be a mapping, e.g. { host: 127.0.0.1, port: 9464 }');
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  for (const k of Object.keys(raw)) if (k !== 'host' && k !== 'port') bad(`server.metrics.${k}`, 'unknown key; known keys here: host, port');
  let host = '127.0.0.1';
  if (raw.host !== undefined && raw.host !== null) {
    if (typeof raw.host === 'string' && raw.host.length > 0) host = raw.host;
    else bad('server.metrics.host', 'must be an address to listen on, e.g. 127.0.0.1');
  }
  let port = DEFAULT_METRICS_PORT;
  if (raw.port !== undefined && raw.port !== null) {
    const n = typeof raw.port === 'string' && /^\d+$/.test(raw.port.trim()) ? Number(raw.port) : raw.port;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) port = n;
    else bad('server.metrics.port', `must be an integer from 0 to 65535, e.g. ${DEFAULT_METRICS_PORT}`);
  }
  return { host, port };
}

/** `audit: { file: PATH }` or `audit: { stdout: true }`; undefined (off) when absent, null or false. */
export function resolveAudit(value: unknown, cwd: string, bad: Complain): AuditConfig | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  const example = 'e.g. audit: { file: /var/log/davcrypt/audit.log } or audit: { stdout: true }';
  if (typeof value !== 'object' || Array.isArray(value)) {
    bad('audit', `must be a mapping, ${example}`);
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  for (const k of Object.keys(raw)) if (k !== 'file' && k !== 'stdout') bad(`audit.${k}`, 'unknown key; known keys here: file, stdout');
  const hasFile = raw.file !== undefined && raw.file !== null;
  const toStdout = raw.stdout === true;
  if (raw.stdout !== undefined && typeof raw.stdout !== 'boolean') bad('audit.stdout', 'must be true or false');
  if (hasFile && toStdout) {
    bad('audit', `give either file or stdout: true, not both (${example})`);
    return undefined;
  }
  if (hasFile) {
    if (typeof raw.file !== 'string' || raw.file.length === 0) {
      bad('audit.file', 'must be a file path, e.g. /var/log/davcrypt/audit.log');
      return undefined;
    }
    return { file: resolve(cwd, raw.file) };
  }
  if (toStdout) return { stdout: true };
  if (raw.stdout !== false) bad('audit', `needs file or stdout: true (${example})`);
  return undefined;
}
