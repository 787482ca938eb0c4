// Share links: the owner's API (create, list, revoke; session cookie + CSRF), the
// recipient's way in (a link path names a principal with one narrowed mount, so GET,
// PROPFIND, PUT... are the ordinary WebDAV handlers), the recipient page, and the
// rewrites that let a plain URL and a password form work (curl -O, a browser
// download). Link passwords are throttled like logins. Audits create, use, failed
// password and revoke (src/events.ts); tokens never leave the URL.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { Backend } from '../backends/index.js';
import type { Argon2Params } from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import { publishShare } from '../events.js';
import { parseMountId, type MountId, type MountKey } from '../keys/index.js';
import { parseBasicAuth, resolveTarget } from '../server/index.js';
import { Argon2Gate, linkStateId, LoginThrottle, type AuthenticatedUser, type MountResolver, type ResolvedMount } from '../users/index.js';
import type Keyv from 'keyv';
import { readSmallBody, sendJson } from './http.js';
import { PAGE_HEADERS, shellHtml, WEB_BASE } from './page.js';
import { ShareBackend } from './share-backend.js';
import { isTokenShaped, SHARE_SCOPES, ShareStore, type ShareRecord, type ShareScope } from './share-store.js';

/** Where links live: under .well-known, so no user path can shadow them. */
export const SHARE_BASE = '/.well-known/davcrypt/s/';
const MAX_DAYS = 365;
/** Sent by the recipient page's script on its WebDAV requests. */
const PAGE_HEADER = 'x-davcrypt-page';
const OPEN_CACHE_MS = 60_000;

/** What share links need from users/ (GatewayAuthenticator implements it). */
export interface ShareAuthenticator {
  shareKey(mount: ResolvedMount): MountKey | undefined;
  openSharedMount(owner: string, mountId: MountId, key: MountKey | undefined): Promise<Backend>;
}

export interface ShareLinkOptions {
  store: Keyv;
  argon2: Argon2Params;
  authenticator: ShareAuthenticator;
  mountResolver: MountResolver;
  clientAddress: (req: IncomingMessage) => string;
  sessionUser: (req: IncomingMessage, method: string) => Promise<AuthenticatedUser | undefined>;
  /** Links must expire (default true); at most MAX_DAYS days. */
  requireExpiry?: boolean;
  now?: () => number;
}

export interface ShareLinks {
  route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  principal(req: IncomingMessage, method: string, path: string): Promise<{ user: AuthenticatedUser; mounts: ResolvedMount[] } | undefined>;
  logPath(path: string): string;
}

/** The token and the rest of a link path, or undefined when the path is not a link's. */
function splitLinkPath(path: string): { token: string; rest: string } | undefined {
  if (!path.startsWith(SHARE_BASE)) return undefined;
  const tail = path.slice(SHARE_BASE.length);
  const slash = tail.indexOf('/');
  const token = slash < 0 ? tail : tail.slice(0, slash);
  return { token, rest: slash < 0 ? '' : tail.slice(slash) };
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function createShareLinks(options: ShareLinkOptions): ShareLinks {
  const now = options.now ?? Date.now;
  const shares = new ShareStore(options.store, options.argon2, now);
  const throttle = new LoginThrottle(undefined, now, { store: options.store, scope: 'share' });
  const gate = new Argon2Gate();
  // Opened links of this process (argon2 once per password, not per request), by a digest of token and password.
  const opened = new LRUCache<string, { key?: MountKey }>({ max: 500, ttl: OPEN_CACHE_MS });

  async function openLink(token: string, password: string | undefined, record: ShareRecord, address: string): Promise<{ key?: MountKey }> {
    const cacheKey = createHash('sha256').update(token).update('\0').update(password ?? '').digest('hex');
    const hit = opened.get(cacheKey);
    if (hit) return hit;
    if (record.password && password === undefined) throw davError('DC_ERR_UNAUTHORIZED', 'this link needs its password', { details: { challenge: 'share' } });
    const attempt = record.password ? await throttle.reserve(`share:${record.id}`, address) : undefined;
    try {
      const result = await gate.run(`share:${record.id}`, () => shares.open(token, password, record));
      await attempt?.succeeded();
      opened.set(cacheKey, result);
      return result;
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED')) {
        await attempt?.failed();
        publishShare({ operation: 'password-failed', id: record.id, owner: record.owner, address });
      } else {
        await attempt?.abandoned();
      }
      throw err;
    }
  }

  async function principal(req: IncomingMessage, method: string, path: string) {
    const link = splitLinkPath(path);
    if (!link) return undefined;
    const record = await shares.find(link.token);
    if (!record) throw davError('DC_ERR_NOT_FOUND', 'this link does not exist, has expired or was revoked');
    const address = options.clientAddress(req);
    let key: MountKey | undefined;
    try {
      ({ key } = await openLink(link.token, parseBasicAuth(req.headers.authorization)?.password, record, address));
    } catch (err) {
      // Our page asks for the password itself: no Basic challenge, or the browser would show its own dialog.
      if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') && req.headers[PAGE_HEADER]) throw davError('DC_ERR_UNAUTHORIZED', err.message);
      throw err;
    }
    // The record's mount id comes back from the store: one that does not parse names no mount any more.
    const mountId = parseMountId(record.mountId);
    if (!mountId) throw davError('DC_ERR_NOT_FOUND', 'the shared mount is gone');
    const inner = await options.authenticator.openSharedMount(record.owner, mountId, key);
    const backend = new ShareBackend(inner, {
      scope: record.scope,
      root: record.folder ? record.path : record.path.slice(0, record.path.lastIndexOf('/')) || '/',
      ...(record.folder ? {} : { file: baseName(record.path) }),
      beforeDownload: async (p) => {
        if (method !== 'GET') return;
        if (!(await shares.countDownload(record))) throw davError('DC_ERR_FORBIDDEN', 'this link reached its download limit');
        publishShare({ operation: 'use', action: 'download', id: record.id, owner: record.owner, path: p, address });
      },
      afterUpload: (p) => publishShare({ operation: 'use', action: 'upload', id: record.id, owner: record.owner, path: p, address }),
    });
    const mount: ResolvedMount = { urlPrefix: SHARE_BASE + link.token, id: linkStateId(record.id), backend, encrypted: !!key };
    return { user: { name: `share:${record.id}` }, mounts: [mount] };
  }

  async function createLink(req: IncomingMessage, res: ServerResponse, user: AuthenticatedUser): Promise<void> {
    let body: { path?: unknown; scope?: unknown; expiresInDays?: unknown; password?: unknown; maxDownloads?: unknown };
    try {
      body = JSON.parse(await readSmallBody(req, 16_384)) as typeof body;
    } catch {
      throw davError('DC_ERR_BAD_REQUEST', 'body is not JSON');
    }
    if (typeof body.path !== 'string' || !body.path.startsWith('/')) throw davError('DC_ERR_BAD_REQUEST', 'path must be an absolute path');
    const scope = (body.scope ?? 'read') as ShareScope;
    if (!SHARE_SCOPES.includes(scope)) throw davError('DC_ERR_BAD_REQUEST', `scope must be one of ${SHARE_SCOPES.join(', ')}`);
    const days = body.expiresInDays === undefined || body.expiresInDays === null || body.expiresInDays === '' ? undefined : Number(body.expiresInDays);
    if (days === undefined && options.requireExpiry !== false) throw davError('DC_ERR_BAD_REQUEST', 'a link needs an expiry (expiresInDays)');
    if (days !== undefined && !(days > 0 && days <= MAX_DAYS)) throw davError('DC_ERR_BAD_REQUEST', `expiresInDays must be in (0, ${MAX_DAYS}]`);
    const maxDownloads = body.maxDownloads === undefined || body.maxDownloads === null || body.maxDownloads === '' ? undefined : Number(body.maxDownloads);
    if (maxDownloads !== undefined && !(Number.isInteger(maxDownloads) && maxDownloads > 0)) throw davError('DC_ERR_BAD_REQUEST', 'maxDownloads must be a positive integer');
    const password = typeof body.password === 'string' && body.password !== '' ? body.password : undefined;
    const urlPath = body.path.replace(/\/+$/, '') || '/';
    const mounts = await options.mountResolver.mountsFor(user);
    const target = resolveTarget(mounts, urlPath);
    // A share link's own mount (kind 'link') is no configured mount: it cannot be shared again.
    if (target.kind !== 'mount' || target.mount.id.kind === 'link') throw davError('DC_ERR_NOT_FOUND', 'only files and folders inside a mount can be shared');
    const info = await target.mount.backend.stat(target.path);
    const folder = info.type === 'directory';
    if (!folder && scope !== 'read') throw davError('DC_ERR_BAD_REQUEST', 'file drop and read-write links are for folders');
    const key = options.authenticator.shareKey(target.mount);
    const { token, record } = await shares.create({
      owner: user.name, mountId: target.mount.id, urlPrefix: target.mount.urlPrefix, path: target.path, folder, scope,
      expires: now() + (days ?? MAX_DAYS) * 86_400_000, ...(maxDownloads ? { maxDownloads } : {}), ...(password ? { password } : {}), ...(key ? { key } : {}),
    });
    key?.key.fill(0);
    publishShare({ operation: 'create', id: record.id, owner: user.name, scope, path: urlPath, address: options.clientAddress(req) });
    sendJson(res, 201, { id: record.id, path: SHARE_BASE + token, expires: record.expires, scope, folder });
  }

  async function ownerApi(req: IncomingMessage, res: ServerResponse, method: string, name: string): Promise<void> {
    const user = await options.sessionUser(req, method);
    if (!user) throw davError('DC_ERR_UNAUTHORIZED', 'sign in first');
    if (name === 'shares' && method === 'GET') return sendJson(res, 200, await shares.list(user.name));
    if (name === 'shares' && method === 'POST') return createLink(req, res, user);
    if (name.startsWith('shares/') && method === 'DELETE') {
      const record = await shares.revoke(user.name, name.slice('shares/'.length));
      if (!record) throw davError('DC_ERR_NOT_FOUND', 'no such link');
      opened.clear(); // a revoked link's cached opening must not outlive it in this process
      publishShare({ operation: 'revoke', id: record.id, owner: user.name, scope: record.scope, path: (record.urlPrefix + record.path) || '/', address: options.clientAddress(req) });
      return sendJson(res, 200, { revoked: record.id });
    }
    throw davError('DC_ERR_NOT_FOUND', 'not found');
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const method = (req.method ?? 'GET').toUpperCase();
    if (path.startsWith(WEB_BASE + 'shares')) {
      await ownerApi(req, res, method, path.slice(WEB_BASE.length));
      return true;
    }
    if (path.startsWith(WEB_BASE + 'link/')) {
      // What the recipient page needs before it asks for a password; the name only when there is none.
      const record = await shares.find(path.slice((WEB_BASE + 'link/').length));
      if (!record || method !== 'GET') throw davError('DC_ERR_NOT_FOUND', 'this link does not exist, has expired or was revoked');
      sendJson(res, 200, {
        folder: record.folder, scope: record.scope, password: !!record.password, expires: record.expires,
        ...(record.password ? {} : { name: baseName(record.path) || '/' }),
      });
      return true;
    }
    const link = splitLinkPath(path);
    if (!link || !isTokenShaped(link.token)) return false;
    const html = /\btext\/html\b/i.test(String(req.headers.accept ?? ''));
    if (method === 'GET' && html && (link.rest === '' || link.rest === '/')) {
      const page = Buffer.from(shellHtml('share'));
      res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
      res.end(page);
      return true;
    }
    if (method === 'POST') {
      // A password form (the recipient page, or curl -d password=...): the same request as GET with
      // the password in Basic auth, answered by the WebDAV handlers as a download.
      const form = new URLSearchParams(await readSmallBody(req, 16_384));
      req.method = 'GET';
      req.headers.authorization = 'Basic ' + Buffer.from('link:' + (form.get('password') ?? '')).toString('base64');
      delete req.headers['content-type'];
      delete req.headers['content-length'];
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && link.rest === '') {
      // The plain URL of a file link answers with the file itself (curl, wget).
      const record = await shares.find(link.token);
      if (record && !record.folder) req.url = SHARE_BASE + link.token + '/' + encodeURIComponent(baseName(record.path));
    }
    return false;
  }

  return {
    route,
    principal,
    logPath: (path) => {
      const link = splitLinkPath(path);
      return link && isTokenShaped(link.token) ? `${SHARE_BASE}(link ${createHash('sha256').update(link.token).digest('hex').slice(0, 16)})${link.rest}` : path;
    },
  };
}
