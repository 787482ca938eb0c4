// Operations for a running gateway: readiness (/livez, /readyz), Prometheus metrics
// on their own listener (server.metrics), and the audit log (audit). app.ts starts it
// with startOps and hands `front` to the server; everything else happens through
// listeners on the http.Server and the events of src/events.ts. Off what the config
// leaves off: no metrics listener, no audit file, unless configured.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type Keyv from 'keyv';
import type { Config } from '../config/types.js';
import type { Logger } from '../logging.js';
import { auditGatewayEvents, openAuditLog, type AuditLog } from './audit.js';
import type { GatewayMetrics } from './metrics.js';
import { backendProbes, Readiness, storeProbe, type HealthProbe } from './readiness.js';
import { answerOps, isOpsPath, listenMetrics, type MetricsListener } from './routes.js';

export { auditCliRun, cliAuditEntry, withCliAudit } from './audit-cli.js';
export { auditGatewayEvents, openAuditLog, type AuditFields, type AuditLog } from './audit.js';
export { backendProbes, probeTarget, Readiness, runProbe, storeProbe } from './readiness.js';
export type { CheckResult, HealthProbe, ReadinessOptions, ReadinessReport } from './readiness.js';
export { isOpsPath, LEGACY_HEALTH_PATH, LIVEZ_PATH, METRICS_PATH, READYZ_PATH, readinessBody } from './routes.js';

export interface OpsOptions {
  store: Keyv;
  logger: Logger;
  /** Login cache size for davcrypt_login_cache_entries. */
  loginCacheSize?: () => number;
  /** Replaces the default probes (store get, backend root stat), e.g. with the store's own health function. */
  probes?: HealthProbe[];
  readiness?: { timeoutMs?: number; cacheMs?: number };
  /** A worker of a multi-process gateway: /metrics reports all workers (via the serve primary). */
  clusterWorker?: boolean;
}

export interface RunningOps {
  readiness: Readiness;
  metrics?: GatewayMetrics;
  /** Hand to createGatewayServer({ front }): answers the ops paths, returns false for WebDAV requests. */
  front(req: IncomingMessage, res: ServerResponse): boolean;
  /** Counts the gateway server's requests and starts the metrics listener (when configured). */
  attach(server: Server): Promise<void>;
  /** Base URL of the metrics listener, once attached. */
  metricsUrl?: string;
  /** Stops the metrics listener, the event subscriptions and the audit log. */
  close(): Promise<void>;
}

export async function startOps(config: Config, options: OpsOptions): Promise<RunningOps> {
  const probes = options.probes ?? [storeProbe(options.store), ...backendProbes(config.mounts)];
  const readiness = new Readiness(probes, { ...options.readiness, logger: options.logger });
  let metrics: GatewayMetrics | undefined;
  if (config.server.metrics) {
    // prom-client loads only when metrics are on.
    const { GatewayMetrics } = await import('./metrics.js');
    metrics = new GatewayMetrics({ readiness, loginCacheSize: options.loginCacheSize, ignorePath: isOpsPath, clusterWorker: options.clusterWorker });
  }
  let audit: AuditLog | undefined;
  let stopAudit: (() => void) | undefined;
  if (config.audit) {
    audit = openAuditLog(config.audit);
    stopAudit = auditGatewayEvents(audit);
  }
  let listener: MetricsListener | undefined;
  const ops: RunningOps = {
    readiness,
    metrics,
    front: (req, res) => answerOps({ readiness, logger: options.logger }, req, res),
    async attach(server) {
      if (!metrics || !config.server.metrics) return;
      metrics.instrument(server);
      listener = await listenMetrics({ readiness, metrics, logger: options.logger }, config.server.metrics.host, config.server.metrics.port);
      ops.metricsUrl = listener.url;
      options.logger.info('metrics listening', { url: listener.url });
    },
    async close() {
      await listener?.close();
      metrics?.close();
      stopAudit?.();
      await audit?.close();
      await readiness.close();
    },
  };
  return ops;
}
