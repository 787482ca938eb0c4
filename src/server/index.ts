// The WebDAV front of davcrypt: builds the Node http(s) server around our request
// layer (request-layer.ts, which dispatches every method to our handlers), with
// timeouts suited to long uploads and listeners so that no request or socket error
// can take the process down. No process-wide exception handler: a handler's bug
// becomes that request's 500 through its promise, and anything else is a real crash.
// Public API of src/server: createGatewayServer and its option/handle types.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Keyv } from 'keyv';
import type { Logger } from '../logging.js';
import type { Authenticator, MountResolver } from '../users/types.js';
import type { LockStore } from './lock-store.js';
import { trustedProxyList } from './client-address.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { createLockStore } from './lock-store-redis.js';
import { SharedGeneration } from './nextcloud/generation.js';
import { LoginFlows } from './nextcloud/login-flows.js';
import { PropStore } from './prop-store.js';
import { createRequestListener } from './request-layer.js';
import type { HealthReport } from './context.js';
import type { WebFront } from './web-front.js';

export interface GatewayServerOptions {
  authenticator: Authenticator;
  /** The server passes back the same AuthenticatedUser object that authenticate() returned. */
  mountResolver: MountResolver;
  /** Gateway store; the server keeps locks ('lock:') and dead properties ('prop:') in it. */
  store: Keyv;
  logger: Logger;
  /** `cert` may carry the intermediate chain after the certificate (PEM). Sends HSTS when set. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Basic realm, default 'davcrypt'. */
  realm?: string;
  limits?: { maxXmlBodyBytes?: number /* default 1 MiB */; maxHeaderBytes?: number } & Partial<ServerLimits>;
  /** Report RFC 4331 quota props; 'auto' hides them from macOS >= 15.4 WebDAVFS user agents. */
  quota?: 'on' | 'off' | 'auto';
  /** Addresses/CIDRs of reverse proxies whose X-Forwarded-For names the client. */
  trustedProxies?: string[];
  /** Lock state; default createLockStore(store): Redis scripts for redis://, else in-process. */
  lockStore?: LockStore;
  /** Answers a request before the WebDAV layer when it returns true (ops: /livez, /readyz). */
  front?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** An upload body silent this long is dropped with 408 (default 60 s; 0: never). */
  uploadIdleMs?: number;
  /** Checks behind the health endpoint (store, backends); without it the endpoint answers ok. */
  health?: () => Promise<HealthReport>;
  /** The browser front (src/web): asked first for browser requests and for session cookies. */
  web?: WebFront;
}

export interface GatewayServer {
  readonly server: http.Server;
  listen(port: number, host: string): Promise<{ url: string; port: number; host: string }>;
  /** Swaps the certificate and key for new connections (renewal without a restart). Throws on bad PEM; no-op without TLS. */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs` (default 0),
   * then cuts what is left. Idle keep-alive connections close at once.
   */
  close(graceMs?: number): Promise<void>;
}

export { HEALTH_PATH } from './request-layer.js';
export type { HealthReport } from './context.js';
export { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
export { readTlsMaterial, warnIfPlainHttp, type TlsFiles } from './transport-security.js';
export { KeyvLockStore, type LockStore, type LockRecord } from './lock-store.js';
export { RedisLockStore, createLockStore } from './lock-store-redis.js';
export { httpErrorOf, sendError } from './errors-to-http.js';
export { clientAddressOf, trustedProxyList } from './client-address.js';
export type { WebFront } from './web-front.js';
export { fileSafetyHeaders, attachmentDisposition } from './safe-content.js';
export { encodeHref, parseRequestPath } from './request-paths.js';
export { resolveTarget } from './context.js';
export { parseBasicAuth } from './basic-auth.js';

/** Strict-Transport-Security on every TLS answer: one year (no includeSubDomains: other hosts are not ours to bind). */
export const HSTS = 'max-age=31536000';

/** Builds (does not start) the gateway's HTTP(S) server. Throws nothing; request errors become responses. */
export function createGatewayServer(opts: GatewayServerOptions): GatewayServer {
  const logger = opts.logger;
  const locks: LockStore = opts.lockStore ?? createLockStore(opts.store);
  const folderGeneration = new SharedGeneration(opts.store, logger);
  const dav = createRequestListener({
    authenticator: opts.authenticator,
    mountResolver: opts.mountResolver,
    locks,
    props: new PropStore(opts.store),
    logger,
    realm: opts.realm ?? 'davcrypt',
    maxXmlBodyBytes: opts.limits?.maxXmlBodyBytes ?? 1024 * 1024,
    limits: { ...DEFAULT_LIMITS, ...definedOnly(opts.limits ?? {}) },
    ...(opts.trustedProxies?.length ? { trustedProxies: trustedProxyList(opts.trustedProxies) } : {}),
    quota: opts.quota ?? 'auto',
    uploadIdleMs: opts.uploadIdleMs ?? 60_000,
    ...(opts.health ? { health: opts.health } : {}),
    ...(opts.web ? { web: opts.web } : {}),
    folderGeneration,
    loginFlows: new LoginFlows(opts.store),
  });
  const front = opts.front;
  const listener: http.RequestListener = front ? (req, res) => { if (!front(req, res)) dav(req, res); } : dav;
  const serverOptions: http.ServerOptions = {
    ...(opts.limits?.maxHeaderBytes ? { maxHeaderSize: opts.limits.maxHeaderBytes } : {}),
    keepAlive: true,
  };
  // Over TLS, browsers are told never to fall back to plain http (the password crosses in every request).
  const handler: http.RequestListener = opts.tls
    ? (req, res) => { res.setHeader('Strict-Transport-Security', HSTS); listener(req, res); }
    : listener;
  const server: http.Server = opts.tls
    ? https.createServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, handler)
    : http.createServer(serverOptions, handler);
  // Long uploads must not be cut: no whole-request timeout; headers must still arrive promptly.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug('client error', { code: err.code, error: err.message });
    if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
      const body = `DC_ERR_BAD_REQUEST: ${tooLarge ? 'request line or headers too large' : 'malformed HTTP request'}\n`;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  });
  let inFlight = 0;
  server.on('request', (_req, res: http.ServerResponse) => {
    inFlight += 1;
    res.once('close', () => { inFlight -= 1; });
  });
  server.on('connection', (socket) => socket.on('error', (err) => logger.debug('socket error', { error: err.message })));

  return {
    server,
    async listen(port, host) {
      await folderGeneration.start();
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ url: `${opts.tls ? 'https' : 'http'}://${shownHost}:${addr.port}/`, port: addr.port, host: addr.address });
        });
      });
    },
    setTls(tls) {
      if (opts.tls) (server as https.Server).setSecureContext({ cert: tls.cert, key: tls.key });
    },
    close(graceMs = 0) {
      return new Promise((resolve, reject) => {
        const finish = (err?: Error) => {
          clearInterval(idleSweep);
          clearTimeout(cut);
          // The last changes' publish must reach the store before it closes.
          void folderGeneration.close().then(() => {
            if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err);
            else resolve();
          });
        };
        server.close(finish);
        // A connection becomes idle once its last response is out: close those as they appear, so
        // only requests still running keep the process up, for at most graceMs.
        server.closeIdleConnections();
        const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
        if (inFlight > 0) logger.info('shutdown: waiting for requests in flight', { requests: inFlight, graceMs });
        const cut = setTimeout(() => {
          if (inFlight > 0) logger.warn('shutdown: cutting requests still in flight', { requests: inFlight, afterMs: graceMs });
          server.closeAllConnections();
        }, graceMs);
        if (graceMs <= 0) server.closeAllConnections();
      });
    },
  };
}

/** The keys of a partial limits object that are set (undefined must not override a default). */
function definedOnly(limits: Partial<ServerLimits>): Partial<ServerLimits> {
  return Object.fromEntries(Object.entries(limits).filter(([k, v]) => v !== undefined && k in DEFAULT_LIMITS)) as Partial<ServerLimits>;
}
