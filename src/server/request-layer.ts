// Our request layer in front of webdav-server: health, path validation and the
// `.davcrypt` refusal, OPTIONS without auth, Basic auth (401 / 429), mount
// resolution, If / If-Match / ... evaluation (412/304), CORS stripping, the access
// log line, and the guarantee that no request can crash the process.
// Never logs credentials; never touches a backend except through handlers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { davError, isDavcryptError } from '../errors.js';
import type { AuthenticatedUser } from '../users/types.js';
import { parseBasicAuth } from './basic-auth.js';
import { evaluateHttpPreconditions, evaluateIf, parseIfHeader, submittedTokens } from './conditions.js';
import { resolveTarget, statCached, type DavContext, type ServerDeps } from './context.js';
import { sendError } from './errors-to-http.js';
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
import type { DavEngine, MethodHandler } from './webdav-adapter.js';

export const HEALTH_PATH = '/.well-known/davcrypt/health';

/** Response headers nobody may send: webdav-server's CORS '*' with credentials, its Server banner, MS extensions. */
const DROPPED_HEADERS = /^(access-control-|x-msdavext$|server$)/i;

function guardHeaders(res: ServerResponse): void {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: string | number | readonly string[]) => {
    if (DROPPED_HEADERS.test(name)) return res;
    return setHeader(name, value);
  }) as ServerResponse['setHeader'];
}

type Handler = (ctx: DavContext) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  GET: handleGetHead, HEAD: handleGetHead, PUT: handlePut, PROPFIND: handlePropfind, PROPPATCH: handleProppatch,
  MKCOL: handleMkcol, DELETE: handleDelete, COPY: handleCopyMove, MOVE: handleCopyMove, LOCK: handleLock, UNLOCK: handleUnlock,
};

/** Methods our layer calls directly; webdav-server routes the rest (see webdav-adapter.ts). */
const DIRECT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'PROPFIND']);

/** Builds the Node request listener. It never throws and never rejects. */
export function createRequestListener(deps: ServerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const contexts = new WeakMap<IncomingMessage, DavContext>();
  const route = (handler: Handler): MethodHandler => (req) => {
    const ctx = contexts.get(req);
    if (!ctx) return Promise.reject(davError('DC_ERR_INTERNAL', 'request context lost'));
    return handler(ctx);
  };
  // webdav-server (about 150 modules) loads on the first request that needs it, not for GET/PUT/PROPFIND.
  let engine: Promise<DavEngine> | undefined;
  const davEngine = (): Promise<DavEngine> => (engine ??= import('./webdav-adapter.js').then(({ createDavEngine }) => createDavEngine(
    Object.fromEntries(Object.entries(HANDLERS).map(([m, h]) => [m, route(h)])),
    () => Promise.reject(davError('DC_ERR_METHOD_NOT_ALLOWED', 'method not supported')),
    deps.logger,
  )));

  const challenge = (res: ServerResponse, why: string) => {
    res.setHeader('WWW-Authenticate', `Basic realm="${deps.realm.replace(/["\\]/g, '')}", charset="UTF-8"`);
    throw davError('DC_ERR_UNAUTHORIZED', why);
  };

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, state: { user?: string; path?: string }): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    if ((method === 'GET' || method === 'HEAD') && rawUrl.split('?')[0] === HEALTH_PATH) {
      const body = Buffer.from('{"status":"ok"}');
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', body.length);
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    const url = parseRequestPath(rawUrl);
    state.path = url.path;
    if (method === 'OPTIONS') {
      sendEmpty(res, 200, { DAV: '1, 2', 'MS-Author-Via': 'DAV', Allow: ALLOWED_METHODS, 'Accept-Ranges': 'bytes' });
      req.resume();
      return;
    }
    if (await serveNextcloudEndpoint(req, res, deps, method, rawUrl, url, signal, state)) return;
    const credentials = parseBasicAuth(req.headers.authorization);
    if (!credentials) challenge(res, 'authentication required');
    let user: AuthenticatedUser;
    try {
      user = await deps.authenticator.authenticate(credentials!.username, credentials!.password, req.socket.remoteAddress ?? '');
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') || isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) challenge(res, 'wrong user name or password');
      throw err;
    }
    state.user = user.name;
    const mounts = nextcloudMounts(req, res, method, url.path, user, await deps.mountResolver.mountsFor(user));
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
    if (!HANDLERS[method]) {
      res.setHeader('Allow', ALLOWED_METHODS);
      throw davError('DC_ERR_METHOD_NOT_ALLOWED', `${method} is not supported`);
    }
    if (DIRECT_METHODS.has(method)) {
      // The hot methods skip webdav-server's per-request context (header parsing, Allow computation).
      // GET and HEAD send these with their other headers in one writeHead (no setHeader per header).
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('DAV', '1, 2');
        res.setHeader('MS-Author-Via', 'DAV');
      }
      await HANDLERS[method]!(ctx);
      return;
    }
    const dav = await davEngine();
    // Only webdav-server sets the headers guardHeaders drops; our own handlers never do.
    guardHeaders(res);
    contexts.set(req, ctx);
    await dav.dispatch(req, res);
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    const state: { user?: string; path?: string } = {};
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
      deps.logger.info('request', {
        method: req.method, path: state.path ?? '(invalid)', status: res.writableFinished ? res.statusCode : 499,
        bytes, ms: Number((process.hrtime.bigint() - started) / 1_000_000n), user: state.user,
      });
    });
    res.on('error', (err) => deps.logger.debug('response error', { error: err.message }));
    req.on('error', (err) => deps.logger.debug('request error', { error: err.message }));
    handle(req, res, controller.signal, state).catch((err: unknown) => {
      try {
        sendError(res, err, deps.logger, { method: req.method, path: state.path });
      } catch (inner) {
        deps.logger.error('failed to send an error response', { error: (inner as Error)?.message });
        res.destroy();
      }
    });
  };
}
