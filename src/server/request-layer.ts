// The one request path: health, path validation and the `.davcrypt` refusal,
// OPTIONS without auth, Basic auth (401 / 429), mount resolution, If / If-Match / ...
// evaluation (412/304), dispatch of every method to our own handler table (405 with
// Allow for anything else), the access log line, and the guarantee that a request's
// failure (a handler bug included) becomes that request's error response.
// Never logs credentials; never touches a backend except through handlers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { davError, isDavcryptError } from '../errors.js';
import { publishRequestFailure } from '../events.js';
import type { AuthenticatedUser } from '../users/types.js';
import { parseBasicAuth } from './basic-auth.js';
import { clientAddressOf } from './client-address.js';
import { evaluateHttpPreconditions, evaluateIf, parseIfHeader, submittedTokens } from './conditions.js';
import { resolveTarget, statCached, type DavContext, type ServerDeps } from './context.js';
import { cutResponseStatus, sendError } from './errors-to-http.js';
import { noteStreamedBytes } from './gc-pacer.js';
import { ALLOWED_METHODS, httpDate, sendEmpty } from './methods/common.js';
import { handleGetHead } from './methods/get-head.js';
import { handleLock, handleUnlock } from './methods/lock.js';
import { handlePropfind } from './methods/propfind.js';
import { handleProppatch } from './methods/proppatch.js';
import { handlePut } from './methods/put.js';
import { handleCopyMove, handleDelete, handleMkcol } from './methods/tree.js';
import { nextcloudMounts, serveNextcloudEndpoint } from './nextcloud/index.js';
import { parseRequestPath } from './request-paths.js';

export const HEALTH_PATH = '/.well-known/davcrypt/health';

/** The DAV compliance classes every response advertises (RFC 4918 §10.1), spelled one way everywhere. */
export const DAV_COMPLIANCE = '1, 2';

type Handler = (ctx: DavContext) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  GET: handleGetHead, HEAD: handleGetHead, PUT: handlePut, PROPFIND: handlePropfind, PROPPATCH: handleProppatch,
  MKCOL: handleMkcol, DELETE: handleDelete, COPY: handleCopyMove, MOVE: handleCopyMove, LOCK: handleLock, UNLOCK: handleUnlock,
};

/** Builds the Node request listener. It never throws and never rejects. */
export function createRequestListener(deps: ServerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const challenge = (res: ServerResponse, why: string) => {
    res.setHeader('WWW-Authenticate', `Basic realm="${deps.realm.replace(/["\\]/g, '')}", charset="UTF-8"`);
    throw davError('DC_ERR_UNAUTHORIZED', why);
  };

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, state: { user?: string; path?: string }): Promise<void> {
    // web: the browser page, its assets, sign-in and share link pages (src/web), before WebDAV auth.
    if (deps.web && (await deps.web.handle(req, res, signal))) return;
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    if ((method === 'GET' || method === 'HEAD') && rawUrl.split('?')[0] === HEALTH_PATH) {
      // Honest: 503 with the failing parts named (never their locations) when the store or a mount's storage is away.
      const report = deps.health ? await deps.health() : undefined;
      const body = Buffer.from(report ? JSON.stringify({ status: report.ok ? 'ok' : 'degraded', checks: report.checks }) : '{"status":"ok"}');
      res.statusCode = report && !report.ok ? 503 : 200;
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', body.length);
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    const url = parseRequestPath(rawUrl);
    state.path = deps.web ? deps.web.logPath(url.path) : url.path;
    if (method === 'OPTIONS') {
      sendEmpty(res, 200, { DAV: DAV_COMPLIANCE, 'MS-Author-Via': 'DAV', Allow: ALLOWED_METHODS, 'Accept-Ranges': 'bytes' });
      req.resume();
      return;
    }
    if (await serveNextcloudEndpoint(req, res, deps, method, rawUrl, url, signal, state)) return;
    const credentials = parseBasicAuth(req.headers.authorization);
    // web: a share link, or without Basic credentials a session cookie (CSRF-checked), may name the user.
    let viaWeb;
    try {
      viaWeb = deps.web ? await deps.web.authenticate(req, method, url.path) : undefined;
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') && (err.details as { challenge?: string }).challenge) challenge(res, 'link password required');
      throw err;
    }
    let user: AuthenticatedUser | undefined = viaWeb?.user;
    if (!user) {
      if (!credentials) challenge(res, 'authentication required');
      try {
        user = await deps.authenticator.authenticate(credentials!.username, credentials!.password, clientAddressOf(req, deps.trustedProxies));
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') || isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) challenge(res, 'wrong user name or password');
        throw err;
      }
    }
    state.user = user.name;
    const mounts = await nextcloudMounts(req, res, deps, method, url.path, user, viaWeb?.mounts ?? await deps.mountResolver.mountsFor(user));
    const ctx: DavContext = {
      req, res, deps, method, url, user, mounts, target: resolveTarget(mounts, url.path),
      ifLists: [], submittedTokens: new Set(), signal, stats: new Map(), lockLists: new Map(),
    };
    const rawIf = req.headers.if;
    const ifHeader = Array.isArray(rawIf) ? rawIf.join(' ') : rawIf;
    if (ifHeader !== undefined) {
      ctx.ifLists = parseIfHeader(ifHeader);
      ctx.submittedTokens = submittedTokens(ctx.ifLists);
      delete req.headers.if;
      if (!(await evaluateIf(ctx))) throw davError('DC_ERR_PRECONDITION_FAILED', 'If header did not match');
    }
    const precondition = await evaluateHttpPreconditions(ctx);
    if (precondition === 412) throw davError('DC_ERR_PRECONDITION_FAILED', 'precondition failed');
    if (precondition === 304) {
      const info = ctx.target.kind === 'mount' ? await statCached(ctx, ctx.target.mount, ctx.target.path) : undefined;
      sendEmpty(res, 304, {
        ...(info?.etag ? { ETag: info.etag } : {}),
        ...(info?.lastModified ? { 'Last-Modified': httpDate(info.lastModified) } : {}),
      });
      return;
    }
    const handler = Object.hasOwn(HANDLERS, method) ? HANDLERS[method] : undefined;
    if (!handler) throw davError('DC_ERR_METHOD_NOT_ALLOWED', `${method} is not supported`);
    // GET and HEAD send these with their other headers in one writeHead (no setHeader per header).
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('DAV', DAV_COMPLIANCE);
      res.setHeader('MS-Author-Via', 'DAV');
    }
    await handler(ctx);
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    // cut: the response was destroyed by us mid-body (status already sent), not left by the client.
    const state: { user?: string; path?: string; cut?: boolean } = {};
    let bytes = 0;
    const write = res.write.bind(res);
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk && typeof (chunk as { length?: number }).length === 'number') {
        bytes += (chunk as { length: number }).length;
        noteStreamedBytes((chunk as { length: number }).length);
      }
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as ServerResponse['write'];
    const end = res.end.bind(res);
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function' && typeof (chunk as { length?: number }).length === 'number') bytes += (chunk as { length: number }).length;
      return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as ServerResponse['end'];
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(davError('DC_ERR_ABORTED', 'client went away'));
      const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
      // After the handler's rejection (pure promise hops) has run, so a cut by us is known as such.
      setImmediate(() => deps.logger.info('request', {
        // A response cut after its headers logs the status that went out, with `cut` and the status
        // of the error that cut it (504: the backend stalled; 502: integrity). 499: the client left.
        method: req.method, path: state.path ?? '(invalid)', status: res.writableFinished || state.cut ? res.statusCode : cutResponseStatus(res) ?? 499,
        ...(state.cut ? { cut: true, ...(cutResponseStatus(res) !== undefined ? { cutStatus: cutResponseStatus(res) } : {}) } : {}),
        bytes, ms, user: state.user,
      }));
    });
    res.on('error', (err) => deps.logger.debug('response error', { error: err.message }));
    req.on('error', (err) => deps.logger.debug('request error', { error: err.message }));
    handle(req, res, controller.signal, state).catch((err: unknown) => {
      if (res.headersSent && !isDavcryptError(err, 'DC_ERR_ABORTED')) state.cut = true;
      publishRequestFailure(err, { ...state, address: req.socket.remoteAddress }); // ops: integrity failures to audit + metrics
      try {
        // RFC 9110 §15.5.6: every 405 names the methods we do answer.
        if (isDavcryptError(err, 'DC_ERR_METHOD_NOT_ALLOWED') && !res.headersSent) res.setHeader('Allow', ALLOWED_METHODS);
        sendError(res, err, deps.logger, { method: req.method, path: state.path });
      } catch (inner) {
        deps.logger.error('failed to send an error response', { error: (inner as Error)?.message });
        res.destroy();
      }
    });
  };
}
