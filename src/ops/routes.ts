// The operations endpoints, answered before the WebDAV layer and without
// authentication: /livez (the process answers), /readyz (store and backends answer;
// 503 names the failing part), the old health path as an alias of /readyz, and on
// the separate metrics listener also /metrics. They answer GET and HEAD only (405
// otherwise) and nothing else; bodies name checks and short reasons, never hosts.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logging.js';
import type { GatewayMetrics } from './metrics.js';
import type { Readiness, ReadinessReport } from './readiness.js';

export const LIVEZ_PATH = '/livez';
export const READYZ_PATH = '/readyz';
export const METRICS_PATH = '/metrics';
/** The health path of earlier versions (src/server HEALTH_PATH), kept as an alias of /readyz. */
export const LEGACY_HEALTH_PATH = '/.well-known/davcrypt/health';

const OPS_PATHS = new Set([LIVEZ_PATH, READYZ_PATH, LEGACY_HEALTH_PATH]);

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

/** True for the paths the main listener answers itself (not WebDAV). */
export function isOpsPath(url: string): boolean {
  return OPS_PATHS.has(pathOf(url));
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-store', ...extra });
  res.end(req.method === 'HEAD' ? undefined : bytes);
  req.resume();
}

/** The /readyz body: status, failing parts, and each check as 'ok' or its short reason. */
export function readinessBody(report: ReadinessReport): string {
  const checks = Object.fromEntries(Object.entries(report.checks).map(([name, r]) => [name, r.ok ? 'ok' : `failed: ${r.reason ?? 'error'}`]));
  const failing = Object.entries(report.checks).filter(([, r]) => !r.ok).map(([name]) => name);
  return JSON.stringify(report.ready ? { status: 'ok', checks } : { status: 'unavailable', failing, checks }) + '\n';
}

export interface OpsRouteDeps {
  readiness: Readiness;
  metrics?: GatewayMetrics;
  logger?: Logger;
}

/**
 * Answers an ops path and returns true, or returns false for any other path (the caller
 * goes on to WebDAV). `withMetrics` also serves /metrics (the metrics listener only).
 */
export function answerOps(deps: OpsRouteDeps, req: IncomingMessage, res: ServerResponse, withMetrics = false): boolean {
  const path = pathOf(req.url);
  if (!OPS_PATHS.has(path) && !(withMetrics && path === METRICS_PATH)) return false;
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    send(req, res, 405, 'text/plain; charset=utf-8', 'DC_ERR_METHOD_NOT_ALLOWED: only GET and HEAD\n', { Allow: 'GET, HEAD' });
    return true;
  }
  const fail = (err: unknown) => {
    deps.logger?.error('ops endpoint failed', { path, error: (err as Error)?.message });
    if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', 'DC_ERR_INTERNAL: internal error\n');
    else res.destroy();
  };
  if (path === LIVEZ_PATH) {
    send(req, res, 200, 'application/json', '{"status":"ok"}\n');
  } else if (path === METRICS_PATH) {
    deps.metrics!.render().then(({ contentType, body }) => send(req, res, 200, contentType, body), fail);
  } else {
    deps.readiness.check().then((report) => send(req, res, report.ready ? 200 : 503, 'application/json', readinessBody(report)), fail);
  }
  return true;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** Starts the metrics listener (/metrics, /livez, /readyz; 404 for anything else). Rejects on listen errors. */
export function listenMetrics(deps: OpsRouteDeps & { metrics: GatewayMetrics }, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    if (!answerOps(deps, req, res, true)) send(req, res, 404, 'text/plain; charset=utf-8', 'DC_ERR_NOT_FOUND: try /metrics, /livez or /readyz\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => deps.logger?.warn('metrics listener error', { error: err.message }));
      const addr = server.address() as AddressInfo;
      const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        url: `http://${shown}:${addr.port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
