// The ownCloud/Nextcloud client protocol in front of the normal WebDAV view: status.php,
// OCS capabilities/user, login flow v2 (login-flow.ts), the /remote.php aliases (view.ts),
// chunked uploads (chunking.ts), and the OC-* response headers. request-layer.ts calls two hooks: serveNextcloudEndpoint()
// before dispatch and nextcloudMounts() once the user's mounts are known.
// Never logs credentials; reaches backends only through the user's resolved mounts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { davError, isDavcryptError } from '../../errors.js';
import type { AuthenticatedUser, ResolvedMount } from '../../users/types.js';
import { parseBasicAuth } from '../basic-auth.js';
import { clientAddressOf } from '../client-address.js';
import { resolveTarget, type ServerDeps } from '../context.js';
import { parseDestination, type RequestPath } from '../request-paths.js';
import { handleUpload } from './chunking.js';
import { serveLoginFlow } from './login-flow.js';
import { capabilitiesData, ocsReply, statusBody, userData } from './ocs.js';
import { aliasMounts, aliasOf, CHANGING_METHODS, fileIdOf, noteChange, UPLOADS_PREFIX } from './view.js';
import { mountStateKey } from '../../users/mount-state.js';

export { aliasOf, fileIdOf, noteChange, permissionsOf, virtualFolder } from './view.js';

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  const buf = Buffer.from(body, 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', buf.length);
  res.setHeader('Cache-Control', 'no-store');
  res.end(head ? undefined : buf);
}

async function login(req: IncomingMessage, res: ServerResponse, deps: ServerDeps): Promise<AuthenticatedUser> {
  const challenge = (why: string): never => {
    res.setHeader('WWW-Authenticate', `Basic realm="${deps.realm.replace(/["\\]/g, '')}", charset="UTF-8"`);
    throw davError('DC_ERR_UNAUTHORIZED', why);
  };
  const credentials = parseBasicAuth(req.headers.authorization);
  if (!credentials) return challenge('authentication required');
  try {
    return await deps.authenticator.authenticate(credentials.username, credentials.password, clientAddressOf(req, deps.trustedProxies));
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED') || isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) challenge('wrong user name or password');
    throw err;
  }
}

const OCS = /^\/ocs\/v([12])\.php\/cloud\/(capabilities|user)$/;

/**
 * Answers status.php, OCS and the uploads area itself; returns false for every other path (the
 * normal dispatch goes on). `state.user` is set once a login succeeded. Throws DavcryptErrors.
 */
export async function serveNextcloudEndpoint(
  req: IncomingMessage, res: ServerResponse, deps: ServerDeps, method: string, rawUrl: string, url: RequestPath,
  signal: AbortSignal, state: { user?: string },
): Promise<boolean> {
  const path = url.path;
  const head = method === 'HEAD';
  if (path === '/status.php') {
    if (method !== 'GET' && !head) throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'status.php is read-only');
    req.resume();
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify(statusBody(req.headers['user-agent'])), head);
    return true;
  }
  if (await serveLoginFlow(req, res, deps, method, path)) return true;
  const ocs = OCS.exec(path);
  if (ocs || path.startsWith('/ocs/')) {
    req.resume();
    if (!ocs) throw davError('DC_ERR_NOT_FOUND', 'no such OCS endpoint');
    if (method !== 'GET' && !head) throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'OCS endpoints are read-only');
    const v2 = ocs[1] === '2';
    const query = new URLSearchParams(rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '');
    const json = query.get('format') === 'json' || /json/i.test(String(req.headers.accept ?? ''));
    const user = await login(req, res, deps);
    state.user = user.name;
    const data = ocs[2] === 'capabilities' ? capabilitiesData(req.headers['user-agent']) : userData(user.name);
    const reply = ocsReply(data, { v2, json });
    send(res, 200, reply.type, reply.body, head);
    return true;
  }
  if (path.startsWith(UPLOADS_PREFIX)) {
    const alias = aliasOf(path)!;
    const user = await login(req, res, deps);
    state.user = user.name;
    if (alias.user !== user.name) throw davError('DC_ERR_FORBIDDEN', 'another user\'s uploads');
    if (CHANGING_METHODS.has(method)) noteChanges(deps, res, true);
    await handleUpload({
      req, res, method, rest: path.slice(alias.prefix.length), urlPath: path, user: user.name,
      mounts: await deps.mountResolver.mountsFor(user), signal, locks: deps.locks,
    });
    return true;
  }
  return false;
}

/**
 * The mounts this request sees. Outside `/remote.php` they are `mounts` unchanged; under an alias
 * they are rebased below it, and ETags are mirrored as OC-ETag with an OC-FileId for the target.
 * Every changing request (any path) moves the folder ETags of the alias views. Throws
 * DC_ERR_FORBIDDEN for another user's `/remote.php/dav/files/{user}`, DC_ERR_NOT_FOUND for other
 * `/remote.php` paths.
 */
export async function nextcloudMounts(
  req: IncomingMessage, res: ServerResponse, deps: ServerDeps, method: string, path: string, user: AuthenticatedUser, mounts: ResolvedMount[],
): Promise<ResolvedMount[]> {
  const alias = aliasOf(path);
  if (CHANGING_METHODS.has(method)) noteChanges(deps, res, alias !== undefined);
  if (!alias) return mounts;
  const view = aliasMounts(alias, user.name, mounts, await deps.folderGeneration?.read());
  const setHeader = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: string | number | readonly string[]) => {
    if (name.toLowerCase() === 'etag') setHeader('OC-ETag', value);
    return setHeader(name, value);
  }) as ServerResponse['setHeader'];
  let idPath = path;
  if (method === 'MOVE' || method === 'COPY') {
    const d = req.headers.destination;
    try {
      idPath = typeof d === 'string' ? parseDestination(d, req.headers.host).path : path;
    } catch {
      // The handler reports the bad Destination.
    }
  }
  if (method === 'PUT' || method === 'MKCOL' || method === 'MOVE' || method === 'COPY') {
    const t = resolveTarget(view, idPath);
    if (t.kind === 'mount') res.setHeader('OC-FileId', fileIdOf(mountStateKey(t.mount.id), t.path).id);
  }
  return view;
}

/**
 * A request that may change a mount moves the folder ETags of the alias views: this process's own
 * generation before and after it (a listing that overlaps the change never keeps the ETags of one
 * that follows it), and the shared one once it ended (`soon`: a sync client's own change).
 */
function noteChanges(deps: ServerDeps, res: ServerResponse, soon: boolean): void {
  noteChange();
  res.once('close', () => {
    noteChange();
    deps.folderGeneration?.noteChange(soon);
  });
}
