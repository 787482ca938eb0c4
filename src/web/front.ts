// The browser front (server/web-front.ts's WebFront): serves the page shell to
// browsers that GET a folder without Basic credentials, the compiled script and the
// stylesheet, and the session routes (sign-in, who am I, sign-out). It turns a
// session cookie into the same AuthenticatedUser a Basic login gives, checking the
// CSRF token on every state-changing method. File operations themselves stay the
// WebDAV methods (the script speaks WebDAV), so safety headers stay where they are.
// Never logs passwords, cookies or tokens.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { davError, isDavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';
import { sendError, type WebFront } from '../server/index.js';
import type { AuthenticatedUser, ResolvedMount } from '../users/index.js';
import { BROWSER_MODULES, loadBrowserScript } from './assets.js';
import { readSmallBody, sendJson } from './http.js';
import { PAGE_CSS, PAGE_HEADERS, shellHtml, WEB_BASE } from './page.js';
import { createShareLinks, type ShareLinkOptions } from './shares.js';
import { csrfMatches, csrfTokenOf, sessionIdFrom, SessionStore } from './sessions.js';

/** What the front needs from users/ (GatewayAuthenticator implements it). */
export interface SessionAuthenticator {
  signIn(username: string, password: string, clientAddress: string): Promise<{ user: AuthenticatedUser; privateKey: Buffer; accountVersion: string }>;
  resumeSession(username: string, privateKey: Buffer, accountVersion: string): Promise<AuthenticatedUser>;
  accountUnchanged(username: string, accountVersion: string): Promise<boolean>;
}

/** Extra routes under WEB_BASE or elsewhere (share links): answered when they return true. */
export type WebRoute = (req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal) => Promise<boolean>;

/** A way besides the session cookie to name who a WebDAV request is (share links). */
export type WebPrincipal = (req: IncomingMessage, method: string, path: string) => Promise<{ user: AuthenticatedUser; mounts?: ResolvedMount[] } | undefined>;

export interface WebFrontOptions {
  store: Keyv;
  authenticator: SessionAuthenticator;
  logger: Logger;
  /** TLS: cookies get Secure and the __Host- prefix. */
  secure: boolean;
  /** The client address as the WebDAV front sees it (trusted proxies honoured): the throttle's key. */
  clientAddress: (req: IncomingMessage) => string;
  /** Session lifetime (default 12 h). */
  sessionTtlMs?: number;
  /** How often a process re-reads a cached session from the store (sign-out elsewhere), default 10 s. */
  recheckMs?: number;
  routes?: WebRoute[];
  /** Who a request is besides a session; first that answers wins. */
  principals?: WebPrincipal[];
  /** Share links (off when undefined). */
  shares?: Omit<ShareLinkOptions, 'store' | 'clientAddress' | 'sessionUser' | 'now'>;
  now?: () => number;
}

export const CSRF_HEADER = 'x-davcrypt-csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_LOGIN_BODY_BYTES = 4096;

interface Cached { user: AuthenticatedUser; checkedAt: number }

export function createWebFront(options: WebFrontOptions): WebFront {
  const now = options.now ?? Date.now;
  const ttlMs = options.sessionTtlMs ?? 12 * 3600_000;
  const recheckMs = options.recheckMs ?? 10_000;
  const sessions = new SessionStore(options.store, ttlMs, now);
  const cookieName = options.secure ? '__Host-davcrypt' : 'davcrypt_session';
  // Resumed sessions of this process, by the hash of their id (never the id itself).
  const cache = new LRUCache<string, Cached>({ max: 1000, ttl: ttlMs });
  const hashOf = (id: string) => createHash('sha256').update(id).digest('hex');

  function cookie(value: string, maxAgeSeconds: number): string {
    return `${cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${options.secure ? '; Secure' : ''}`;
  }

  async function sessionUser(req: IncomingMessage, method: string): Promise<AuthenticatedUser | undefined> {
    const id = sessionIdFrom(req.headers.cookie, cookieName);
    if (!id) return undefined;
    if (!SAFE_METHODS.has(method) && !csrfMatches(id, headerOf(req, CSRF_HEADER))) {
      throw davError('DC_ERR_FORBIDDEN', 'missing or wrong CSRF token');
    }
    const key = hashOf(id);
    const hit = cache.get(key);
    if (hit) {
      if (now() - hit.checkedAt < recheckMs) return hit.user;
      const record = await sessions.peek(id);
      if (record && (await options.authenticator.accountUnchanged(record.user, record.accountVersion))) {
        hit.checkedAt = now();
        return hit.user;
      }
      cache.delete(key);
      throw davError('DC_ERR_UNAUTHORIZED', 'session ended; sign in again');
    }
    const opened = await sessions.open(id);
    if (!opened) throw davError('DC_ERR_UNAUTHORIZED', 'unknown or expired session; sign in again');
    try {
      const user = await options.authenticator.resumeSession(opened.user, opened.privateKey, opened.accountVersion);
      cache.set(key, { user, checkedAt: now() });
      return user;
    } finally {
      opened.privateKey.fill(0);
    }
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    assertSameOrigin(req);
    if (!/^application\/json\b/i.test(headerOf(req, 'content-type') ?? '')) {
      throw davError('DC_ERR_UNSUPPORTED_MEDIA_TYPE', 'sign-in takes application/json');
    }
    const body = await readSmallBody(req, MAX_LOGIN_BODY_BYTES);
    let user: unknown;
    let password: unknown;
    try {
      ({ user, password } = JSON.parse(body) as { user?: unknown; password?: unknown });
    } catch {
      throw davError('DC_ERR_BAD_REQUEST', 'sign-in body is not JSON');
    }
    if (typeof user !== 'string' || typeof password !== 'string' || user === '' || password === '') {
      throw davError('DC_ERR_BAD_REQUEST', 'sign-in needs user and password');
    }
    const signedIn = await options.authenticator.signIn(user, password, options.clientAddress(req));
    let id: string;
    try {
      id = await sessions.create(signedIn.user.name, signedIn.accountVersion, signedIn.privateKey);
    } finally {
      signedIn.privateKey.fill(0);
    }
    res.setHeader('Set-Cookie', cookie(id, Math.floor(ttlMs / 1000)));
    options.logger.info('web sign-in', { user: signedIn.user.name });
    sendJson(res, 200, { user: signedIn.user.name, csrf: csrfTokenOf(id) });
  }

  async function whoAmI(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = sessionIdFrom(req.headers.cookie, cookieName);
    const user = id ? await sessionUser(req, 'GET').catch(() => undefined) : undefined;
    if (!id || !user) return sendJson(res, 401, { error: 'not signed in' });
    sendJson(res, 200, { user: user.name, csrf: csrfTokenOf(id) });
  }

  async function signOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = sessionIdFrom(req.headers.cookie, cookieName);
    if (id) {
      if (!csrfMatches(id, headerOf(req, CSRF_HEADER))) throw davError('DC_ERR_FORBIDDEN', 'missing or wrong CSRF token');
      await sessions.delete(id);
      cache.delete(hashOf(id));
    }
    res.setHeader('Set-Cookie', cookie('', 0));
    sendJson(res, 200, { signedOut: true });
  }

  async function route(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<boolean> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawPath = (req.url ?? '/').split('?')[0]!;
    for (const extra of routes) {
      if (await extra(req, res, rawPath, signal)) return true;
    }
    if (rawPath.startsWith(WEB_BASE)) {
      const name = rawPath.slice(WEB_BASE.length);
      if ((method === 'GET' || method === 'HEAD') && BROWSER_MODULES.has(name)) {
        const script = await loadBrowserScript(name);
        if (!script) throw davError('DC_ERR_NOT_FOUND', 'the browser script is not built; run npm run build');
        sendAsset(res, method, 'text/javascript; charset=utf-8', script);
        return true;
      }
      if ((method === 'GET' || method === 'HEAD') && name === 'app.css') {
        sendAsset(res, method, 'text/css; charset=utf-8', Buffer.from(PAGE_CSS));
        return true;
      }
      if (method === 'GET' && name === 'session') return whoAmI(req, res).then(() => true);
      if (method === 'POST' && name === 'login') return signIn(req, res).then(() => true);
      if (method === 'POST' && name === 'logout') return signOut(req, res).then(() => true);
      throw davError('DC_ERR_NOT_FOUND', 'not found');
    }
    if (method === 'GET' && rawPath.endsWith('/') && !req.headers.authorization && acceptsHtml(req)) {
      sendAsset(res, method, 'text/html; charset=utf-8', Buffer.from(shellHtml('files')));
      return true;
    }
    return false;
  }

  const links = options.shares
    ? createShareLinks({ ...options.shares, store: options.store, clientAddress: options.clientAddress, sessionUser, now })
    : undefined;
  const routes: WebRoute[] = [...(links ? [(req: IncomingMessage, res: ServerResponse, path: string) => links.route(req, res, path)] : []), ...(options.routes ?? [])];
  const principals: WebPrincipal[] = [...(links ? [links.principal] : []), ...(options.principals ?? [])];

  return {
    async authenticate(req, method, path) {
      for (const principal of principals) {
        const found = await principal(req, method, path);
        if (found) return found;
      }
      if (req.headers.authorization) return undefined;
      const user = await sessionUser(req, method);
      return user ? { user } : undefined;
    },
    logPath: (path) => links?.logPath(path) ?? path,
    async handle(req, res, signal) {
      try {
        return await route(req, res, signal);
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') && !isDavcryptError(err, 'DC_ERR_TOO_MANY_REQUESTS')) throw err;
        // Sign-in failures: answered here, without a Basic challenge (no browser password dialog).
        if (!res.headersSent) {
          for (const [k, v] of Object.entries(PAGE_HEADERS)) res.setHeader(k, v);
          sendError(res, err, options.logger);
        }
        return true;
      }
    },
  };
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function acceptsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(headerOf(req, 'accept') ?? '');
}

/** A sign-in must come from our own page: a browser sends Origin on a cross-site POST, and Sec-Fetch-Site. */
function assertSameOrigin(req: IncomingMessage): void {
  const site = headerOf(req, 'sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') throw davError('DC_ERR_FORBIDDEN', 'cross-site sign-in refused');
  const origin = headerOf(req, 'origin');
  if (origin && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw davError('DC_ERR_FORBIDDEN', 'cross-site sign-in refused');
    }
    if (host !== headerOf(req, 'host')) throw davError('DC_ERR_FORBIDDEN', 'cross-site sign-in refused');
  }
}

function sendAsset(res: ServerResponse, method: string, type: string, body: Buffer): void {
  res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
  res.end(method === 'HEAD' ? undefined : body);
}
