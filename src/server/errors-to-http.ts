// The ONE place that turns errors into HTTP responses: status from the code's
// entry in error-status.ts (or the error's override there), body `<code>: <message>` as short text. Never
// writes stacks, secrets, storage locations (backend names) or headers other than the few it owns.
import type { ServerResponse } from 'node:http';
import { toDavcryptError, type DavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';
import { httpStatusOf } from './error-status.js';

/** What a failed request answers: HTTP status, stable code and a one-line body. */
export interface HttpError {
  status: number;
  code: string;
  body: string;
  /** Extra response headers (Retry-After for throttling). */
  headers: Record<string, string>;
  error: DavcryptError;
}

/** Maps anything thrown to its HTTP answer. Internal errors hide their message. */
export function httpErrorOf(err: unknown): HttpError {
  const error = toDavcryptError(err);
  let status = httpStatusOf(error);
  if (!Number.isInteger(status) || status < 400 || status > 599) status = 500;
  const message = error.code === 'DC_ERR_INTERNAL' ? 'internal error' : scrubBackendNames(oneLine(error.message));
  const headers: Record<string, string> = {};
  if (error.code === 'DC_ERR_TOO_MANY_REQUESTS' || error.code === 'DC_ERR_BUSY') {
    const retry = Number(error.details.retryAfterSeconds ?? error.details.retryAfter ?? 60);
    headers['Retry-After'] = String(Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : 60);
  }
  if (error.code === 'DC_ERR_RANGE_NOT_SATISFIABLE' && typeof error.details.size === 'number') {
    headers['Content-Range'] = `bytes */${error.details.size}`;
  }
  return { status, code: error.code, body: `${error.code}: ${message}\n`, headers, error };
}

/**
 * Storage locations are for logs: backend names (`local:/srv/…`, `webdav:https://…`,
 * `encrypting:…`) become 'storage', quoted absolute paths from Node errors ('/srv/x') become '…'.
 */
function scrubBackendNames(text: string): string {
  return text.replace(/\b(?:encrypting:)*(?:local|webdav):\S+/g, 'storage').replace(/'\/[^']*'/g, "'…'");
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 300);
}

/**
 * Answers a request with the mapped error. If headers were already sent the
 * response is destroyed instead (a client must never take short bytes as complete).
 * Aborted requests (client gone) just end the socket. Unexpected errors are logged.
 */
export function sendError(res: ServerResponse, err: unknown, logger?: Logger, where?: Record<string, unknown>): void {
  const mapped = httpErrorOf(err);
  if (mapped.status >= 500 && mapped.code !== 'DC_ERR_ABORTED') {
    const cause = mapped.error.cause instanceof Error ? mapped.error.cause : undefined;
    // After the status line went out (e.g. a segment that fails to verify mid-GET) the only answer
    // left is cutting the connection: log the status the client really got, and say it was cut.
    const cut = res.headersSent;
    logger?.[mapped.code === 'DC_ERR_INTERNAL' ? 'error' : 'warn'](cut ? 'response cut mid-body (integrity abort)' : 'request failed', {
      ...where, code: mapped.code, status: cut ? res.statusCode : mapped.status, ...(cut ? { cut: true } : {}), error: mapped.error.message,
      ...(mapped.code === 'DC_ERR_INTERNAL' ? { stack: (cause ?? mapped.error).stack } : {}),
    });
  }
  if (res.headersSent || res.destroyed || mapped.code === 'DC_ERR_ABORTED') {
    // The access log shows why the answer was cut (504 backend silent, 502 tampered...), not 499.
    if (mapped.code !== 'DC_ERR_ABORTED') failedStatus.set(res, mapped.status);
    if (!res.writableEnded) res.destroy();
    return;
  }
  const body = Buffer.from(mapped.body, 'utf8');
  res.statusCode = mapped.status === 499 ? 400 : mapped.status;
  for (const name of res.getHeaderNames()) {
    if (!['www-authenticate', 'dav', 'ms-author-via', 'allow', 'strict-transport-security'].includes(name)) res.removeHeader(name);
  }
  for (const [k, v] of Object.entries(mapped.headers)) res.setHeader(k, v);
  if (res.req && !res.req.complete) lingerOnUnreadBody(res);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff'); // the message may echo request text: never sniffed as HTML
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** How long an unread request body is drained after an early error answer before the socket is cut. */
export const UNREAD_BODY_LINGER_MS = 10_000;

/**
 * An answer sent before the request body was read (507 mid-upload, 503, 413...): closing at once
 * would leave unread bytes in the socket, and the kernel then sends a TCP reset that can reach the
 * client before our answer does (it sees "connection reset", no status). So the rest of the body
 * is read and dropped, the connection closes after the answer, and the socket is cut only when the
 * body has not ended within UNREAD_BODY_LINGER_MS (a client that keeps streaming forever).
 */
function lingerOnUnreadBody(res: ServerResponse): void {
  const req = res.req;
  res.setHeader('Connection', 'close');
  req.unpipe();
  req.resume();
  const socket = res.socket;
  if (!socket) return;
  // Node ends the socket right after a Connection: close answer; keep reading until the body ended.
  const destroySoon = (socket as unknown as { destroySoon?: () => void }).destroySoon;
  if (typeof destroySoon === 'function') {
    (socket as unknown as { destroySoon: () => void }).destroySoon = function lingeringDestroySoon(this: typeof socket) {
      const finish = () => { clearTimeout(timer); destroySoon.call(this); };
      const timer = setTimeout(finish, UNREAD_BODY_LINGER_MS);
      timer.unref();
      if (req.complete || req.destroyed) finish();
      else {
        req.once('end', finish);
        req.once('close', finish);
      }
    };
  }
}

const failedStatus = new WeakMap<ServerResponse, number>();

/** The status of the error that cut a response after its headers were sent (for the access log), if any. */
export function cutResponseStatus(res: ServerResponse): number | undefined {
  return failedStatus.get(res);
}
