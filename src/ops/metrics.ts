// Prometheus metrics (prom-client, one registry per running gateway): HTTP requests
// by method and status class with latency, bytes in and out, open connections and
// transfers in flight (measured on the http.Server itself, so the request layer needs
// no hook), plus what src/events.ts publishes: backend calls, integrity failures,
// logins, key operations. Readiness and the login cache are read at scrape time.
// With several worker processes a scrape reports all of them (cluster-metrics.ts).
// Labels are low-cardinality by construction: no paths, no user names, no hosts.
import { readFileSync } from 'node:fs';
import type { Server, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { channels, onEvent, type BackendCallEvent, type IntegrityEvent, type KeyEvent, type LoginEvent } from '../events.js';
import { clusterScrape } from './cluster-metrics.js';
import type { Readiness } from './readiness.js';

/** Methods that get their own label value; anything else is counted as OTHER. */
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK']);

/** Request latency buckets (seconds): small PROPFINDs to multi-minute uploads. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BACKEND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function packageVersion(): string {
  try {
    // src/ops/ and dist/ops/ are both two levels below the package root.
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function methodLabel(method: string | undefined): string {
  const m = (method ?? 'GET').toUpperCase();
  return METHODS.has(m) ? m : 'OTHER';
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export interface GatewayMetricsOptions {
  /** Answers davcrypt_ready / davcrypt_check_up at scrape time. */
  readiness?: Readiness;
  /** Login cache size at scrape time (the authenticator's stats). */
  loginCacheSize?: () => number;
  /** Paths not counted as requests (the ops endpoints themselves). */
  ignorePath?: (url: string) => boolean;
  /**
   * A worker of a multi-process gateway (server.workers): /metrics reports every worker, as
   * aggregated by the serve primary (cluster-metrics.ts), not only the one the scrape reached.
   */
  clusterWorker?: boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly requests: Counter<'method' | 'status_class'>;
  private readonly duration: Histogram<'method'>;
  private readonly bytesIn: Counter<'method'>;
  private readonly bytesOut: Counter<'method'>;
  private readonly connections: Gauge;
  private readonly transfers: Gauge<'direction'>;
  private readonly scrapeCluster?: () => Promise<string>;

  constructor(private readonly options: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.clusterWorker) this.scrapeCluster = clusterScrape(this.registry);
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'davcrypt_http_requests_total', help: 'HTTP requests answered, by method and status class (4xx includes 499: client went away).', labelNames: ['method', 'status_class'], registers });
    this.duration = new Histogram({ name: 'davcrypt_http_request_duration_seconds', help: 'Time from request to the end of the response, by method.', labelNames: ['method'], buckets: HTTP_BUCKETS, registers });
    this.bytesIn = new Counter({ name: 'davcrypt_http_received_bytes_total', help: 'Bytes received from clients (headers and bodies, as read from the socket), by method.', labelNames: ['method'], registers });
    this.bytesOut = new Counter({ name: 'davcrypt_http_sent_bytes_total', help: 'Bytes sent to clients (headers and bodies, as written to the socket), by method.', labelNames: ['method'], registers });
    this.connections = new Gauge({ name: 'davcrypt_http_connections', help: 'Open client connections.', registers });
    this.transfers = new Gauge({ name: 'davcrypt_transfers_in_flight', help: 'GET (download) and PUT (upload) requests in progress.', labelNames: ['direction'], registers });
    for (const direction of ['download', 'upload']) this.transfers.set({ direction }, 0);
    // Which version runs where: upgrades show up as a label change on a constant 1.
    new Gauge({ name: 'davcrypt_build_info', help: 'Always 1; the labels say which davcrypt and Node.js run.', labelNames: ['version', 'node'], registers, aggregator: 'first' })
      .set({ version: packageVersion(), node: process.version }, 1);

    const backendCalls = new Counter({ name: 'davcrypt_backend_requests_total', help: 'Backend calls by mount, backend type, operation and outcome (ok or the DC_ERR code).', labelNames: ['mount', 'backend', 'operation', 'outcome'], registers });
    const backendDuration = new Histogram({ name: 'davcrypt_backend_request_duration_seconds', help: 'Backend call latency (reads: until the answer starts), by mount, backend type and operation.', labelNames: ['mount', 'backend', 'operation'], buckets: BACKEND_BUCKETS, registers });
    const integrity = new Counter({ name: 'davcrypt_integrity_failures_total', help: 'Requests that failed because stored ciphertext did not verify, by code.', labelNames: ['code'], registers });
    const logins = new Counter({ name: 'davcrypt_logins_total', help: 'Password checks and throttled attempts: outcome success, failure or throttled.', labelNames: ['outcome'], registers });
    for (const outcome of ['success', 'failure', 'throttled']) logins.inc({ outcome }, 0);
    const keyOps = new Counter({ name: 'davcrypt_key_operations_total', help: 'Key operations of the gateway: unlock (mount keys opened at a login), create (first key), wrap (keys wrapped to new members), adopt (keys taken over from the backend copy, each vouched for by a keyring tag of the identity opening it).', labelNames: ['operation'], registers });
    for (const operation of ['unlock', 'create', 'wrap', 'adopt']) keyOps.inc({ operation }, 0);

    this.unsubscribe.push(
      onEvent<BackendCallEvent>(channels.backendCall, (e) => {
        backendCalls.inc({ mount: e.mount, backend: e.backend, operation: e.operation, outcome: e.outcome });
        backendDuration.observe({ mount: e.mount, backend: e.backend, operation: e.operation }, e.seconds);
      }),
      onEvent<IntegrityEvent>(channels.integrity, (e) => integrity.inc({ code: e.code })),
      onEvent<LoginEvent>(channels.login, (e) => logins.inc({ outcome: e.outcome })),
      onEvent<KeyEvent>(channels.key, (e) => keyOps.inc({ operation: e.operation })),
    );

    if (options.loginCacheSize) {
      const size = options.loginCacheSize;
      new Gauge({ name: 'davcrypt_login_cache_entries', help: 'Verified logins held in memory.', registers, collect() { this.set(size()); } });
    }
    if (options.readiness) {
      const readiness = options.readiness;
      // Each collect awaits the same (cached, shared) readiness run.
      new Gauge({
        name: 'davcrypt_ready', help: '1 when the store and every backend answer (what /readyz says), else 0.', registers, aggregator: 'min',
        async collect() {
          this.set((await readiness.check()).ready ? 1 : 0);
        },
      });
      new Gauge({
        name: 'davcrypt_check_up', help: 'Per readiness check (store, backend <mount>): 1 reachable, 0 not.', labelNames: ['check'], registers, aggregator: 'min',
        async collect() {
          for (const [check, r] of Object.entries((await readiness.check()).checks)) this.set({ check }, r.ok ? 1 : 0);
        },
      });
    }
  }

  /** Counts requests, bytes, connections and transfers of `server` (listeners only; it changes no response). */
  instrument(server: Server): void {
    const seen = new WeakMap<Socket, { read: number; written: number }>();
    server.on('connection', (socket: Socket) => {
      this.connections.inc();
      socket.once('close', () => this.connections.dec());
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.options.ignorePath?.(req.url ?? '/')) return;
      const started = process.hrtime.bigint();
      const method = methodLabel(req.method);
      const direction = method === 'GET' ? 'download' : method === 'PUT' ? 'upload' : undefined;
      if (direction) this.transfers.inc({ direction });
      res.once('close', () => {
        if (direction) this.transfers.dec({ direction });
        const status = res.writableFinished ? res.statusCode : 499;
        this.requests.inc({ method, status_class: statusClass(status) });
        this.duration.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
        // Socket counters, as deltas since the previous request on the same keep-alive connection.
        const socket = req.socket;
        const before = seen.get(socket) ?? { read: 0, written: 0 };
        const now = { read: socket.bytesRead, written: socket.bytesWritten };
        seen.set(socket, now);
        if (now.read > before.read) this.bytesIn.inc({ method }, now.read - before.read);
        if (now.written > before.written) this.bytesOut.inc({ method }, now.written - before.written);
      });
    });
  }

  /** The exposition text (of every worker, in a multi-process gateway) and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    const body = this.scrapeCluster ? await this.scrapeCluster() : await this.registry.metrics();
    return { contentType: this.registry.contentType, body };
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.registry.clear();
  }
}
