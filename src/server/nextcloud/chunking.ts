// Chunked upload as the ownCloud/Nextcloud clients do it ("chunking NG", Nextcloud's chunking v2):
// MKCOL uploads/{user}/{id}, PUT uploads/{user}/{id}/{offset}, PROPFIND to resume, MOVE
// uploads/{user}/{id}/.file onto the target, DELETE to abort. Chunks are kept in the mount's
// reserved `.davcrypt/uploads/` folder through the mount's own backend, so they are encrypted like
// any file and hidden from listings; the MOVE streams them, in offset order, into one write.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Backend, EntryInfo } from '../../backends/types.js';
import { davError, isDavcryptError } from '../../errors.js';
import type { ResolvedMount } from '../../users/types.js';
import { resolveTarget } from '../context.js';
import { lockCovers, type LockStore } from '../lock-store.js';
import { sendEmpty, sendXml } from '../methods/common.js';
import { parseDestination, encodeHref } from '../request-paths.js';
import { escapeXml } from '../xml.js';
import { aliasMounts, aliasOf, fileIdOf, UPLOADS_PREFIX } from './view.js';
import { mountStateKey } from '../../users/mount-state.js';

const UPLOADS_ROOT = '/.davcrypt/uploads';
/** A number (offset or index), or rclone's '<start>-<end>' byte range. */
const CHUNK_NAME = /^\d{1,16}(-\d{1,16})?$/;

function chunkStart(name: string): number {
  return Number(name.split('-')[0]);
}
/** Uploads untouched this long are removed when another upload starts. */
const STALE_MS = 24 * 3600_000;

export interface UploadRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Decoded request path below `/remote.php/dav/uploads/{user}`: '' or '/{id}' or '/{id}/{chunk}'. */
  rest: string;
  /** The full decoded request path (for hrefs). */
  urlPath: string;
  user: string;
  mounts: ResolvedMount[];
  signal: AbortSignal;
  /** The WebDAV locks (a locked target is never overwritten by an upload). */
  locks: LockStore;
}

function homeOf(mounts: ResolvedMount[]): ResolvedMount {
  const m = mounts.find((x) => x.urlPrefix === '') ?? mounts[mounts.length - 1];
  if (!m) throw davError('DC_ERR_FORBIDDEN', 'no mount to hold uploads');
  return m;
}

function checkName(name: string, what: string): string {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(name) || name.startsWith('.') && name !== '.file') throw davError('DC_ERR_BAD_REQUEST', `bad ${what}`);
  return name;
}

async function ensureFolder(backend: Backend, path: string, signal: AbortSignal): Promise<void> {
  try {
    await backend.mkdir(path, { signal });
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_EXISTS')) throw err;
  }
}

async function chunksOf(backend: Backend, folder: string, signal: AbortSignal): Promise<EntryInfo[]> {
  try {
    return (await backend.list(folder, { signal })).filter((e) => e.type === 'file' && CHUNK_NAME.test(e.name))
      .sort((a, b) => chunkStart(a.name) - chunkStart(b.name));
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) throw davError('DC_ERR_NOT_FOUND', 'no such upload');
    throw err;
  }
}

/** Serves one request below `/remote.php/dav/uploads/{user}`. Throws DavcryptErrors (mapped by the caller). */
export async function handleUpload(u: UploadRequest): Promise<void> {
  const home = homeOf(u.mounts);
  const backend = home.backend;
  const [rawId, rawChunk, extra] = u.rest.split('/').filter((s) => s !== '');
  if (extra !== undefined) throw davError('DC_ERR_NOT_FOUND', 'not found');
  if (rawId === undefined) {
    if (u.method === 'PROPFIND') return sendListing(u, []);
    throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'not allowed on the uploads folder');
  }
  const id = checkName(rawId, 'upload id');
  const folder = `${UPLOADS_ROOT}/${u.user}-${id}`;
  const { signal } = u;
  if (rawChunk === undefined) {
    switch (u.method) {
      case 'MKCOL': {
        u.req.resume();
        await ensureFolder(backend, '/.davcrypt', signal);
        await ensureFolder(backend, UPLOADS_ROOT, signal);
        await ensureFolder(backend, folder, signal);
        void removeStale(backend).catch(() => undefined);
        return sendEmpty(u.res, 201);
      }
      case 'PROPFIND': {
        u.req.resume();
        return sendListing(u, await chunksOf(backend, folder, signal));
      }
      case 'DELETE': {
        u.req.resume();
        await backend.delete(folder, { signal }).catch((err: unknown) => {
          if (!isDavcryptError(err, 'DC_ERR_NOT_FOUND')) throw err;
        });
        return sendEmpty(u.res, 204);
      }
      default: throw davError('DC_ERR_METHOD_NOT_ALLOWED', `${u.method} not allowed on an upload`);
    }
  }
  const chunk = checkName(rawChunk, 'chunk name');
  if (u.method === 'PUT' && chunk !== '.file') {
    if (!CHUNK_NAME.test(chunk)) throw davError('DC_ERR_BAD_REQUEST', 'chunk names are numbers (offset or index) or byte ranges');
    const length = Number(u.req.headers['content-length']);
    const info = await backend.write(`${folder}/${chunk}`, u.req, { signal, ...(Number.isFinite(length) ? { size: length } : {}) });
    return sendEmpty(u.res, 201, info.etag ? { ETag: info.etag } : {});
  }
  if (u.method === 'MOVE' && chunk === '.file') return assemble(u, backend, folder);
  if (u.method === 'DELETE') {
    u.req.resume();
    await backend.delete(`${folder}/${chunk}`, { signal });
    return sendEmpty(u.res, 204);
  }
  throw davError('DC_ERR_METHOD_NOT_ALLOWED', `${u.method} not allowed on a chunk`);
}

function sendListing(u: UploadRequest, chunks: EntryInfo[]): void {
  const base = u.urlPath.endsWith('/') ? u.urlPath : u.urlPath + '/';
  let xml = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>${escapeXml(encodeHref(u.urlPath, true))}</D:href>` +
    '<D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>';
  for (const c of chunks) {
    xml += `<D:response><D:href>${escapeXml(encodeHref(base + c.name, false))}</D:href><D:propstat><D:prop><D:resourcetype/>` +
      `<D:getcontentlength>${c.size}</D:getcontentlength>${c.etag ? `<D:getetag>${escapeXml(c.etag)}</D:getetag>` : ''}</D:prop>` +
      '<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>';
  }
  sendXml(u.res, 207, xml + '</D:multistatus>');
}

/** The ETag an `If: <url> (["etag"])` or `If-Match` header requires of the target, if any. */
function requiredEtag(req: IncomingMessage): string | undefined {
  const ifMatch = req.headers['if-match'];
  if (typeof ifMatch === 'string' && ifMatch.trim() !== '*') return ifMatch.trim();
  const ifHeader = req.headers.if;
  const m = typeof ifHeader === 'string' ? /\[\s*((?:W\/)?"[^"]*")\s*\]/.exec(ifHeader) : null;
  return m?.[1];
}

async function assemble(u: UploadRequest, chunkBackend: Backend, folder: string): Promise<void> {
  u.req.resume();
  const destHeader = u.req.headers.destination;
  if (typeof destHeader !== 'string') throw davError('DC_ERR_BAD_REQUEST', 'Destination header missing');
  const dest = parseDestination(destHeader, u.req.headers.host);
  const alias = aliasOf(dest.path);
  // Only into the same user's files: the upload belongs to her.
  if (!alias || dest.path.startsWith(UPLOADS_PREFIX)) throw davError('DC_ERR_FORBIDDEN', 'Destination outside the user\'s files');
  const target = resolveTarget(aliasMounts(alias, u.user, u.mounts), dest.path);
  if (target.kind !== 'mount' || target.path === '/') throw davError('DC_ERR_FORBIDDEN', 'cannot write there');
  const { mount, path } = target;
  const signal = u.signal;
  const chunks = await chunksOf(chunkBackend, folder, signal);
  let total = 0;
  for (const c of chunks) total += c.size;
  // Chunk names are numbers: byte offsets (ownCloud), indices from 0 (Nextcloud desktop) or from 1
  // (Nextcloud web and mobile), or byte ranges 'start-end' (rclone). Either way a gap means a lost chunk, which must never silently
  // shorten the file.
  const first = chunks[0] ? chunkStart(chunks[0].name) : 0;
  let position = 0;
  let tiles = true;
  let counts = first <= 1;
  chunks.forEach((c, i) => {
    tiles &&= chunkStart(c.name) === position;
    counts &&= !c.name.includes('-') && chunkStart(c.name) === first + i;
    position += c.size;
  });
  if (!tiles && !counts) throw davError('DC_ERR_CONFLICT', 'a chunk of the upload is missing');
  const announced = u.req.headers['oc-total-length'];
  if (typeof announced === 'string' && /^\d+$/.test(announced) && Number(announced) !== total) {
    throw davError('DC_ERR_BAD_REQUEST', `chunks hold ${total} bytes, OC-Total-Length says ${announced}`);
  }
  let existing: EntryInfo | undefined;
  try {
    existing = await mount.backend.stat(path, { signal });
  } catch (err) {
    if (!isDavcryptError(err, 'DC_ERR_NOT_FOUND')) throw err;
  }
  if (existing?.type === 'directory') throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'target is a folder');
  // The sync clients never lock; a lock here is another client's (Office, Finder) edit in progress.
  if ((await u.locks.list(mount.id)).some((l) => lockCovers(l, path) || lockCovers(l, parentOf(path)))) {
    throw davError('DC_ERR_LOCKED', 'the target is locked');
  }
  const wanted = requiredEtag(u.req);
  if (wanted !== undefined && existing?.etag !== wanted) throw davError('DC_ERR_PRECONDITION_FAILED', 'target changed meanwhile');
  const body = Readable.from((async function* () {
    for (const c of chunks) {
      const r = await chunkBackend.read(c.path, { signal });
      for await (const piece of r.body) yield piece as Buffer;
    }
  })());
  let info = await mount.backend.write(path, body, { signal, size: total, ...(existing?.etag ? { ifMatch: existing.etag } : {}) });
  const headers: Record<string, string> = {};
  const mtime = Number(u.req.headers['x-oc-mtime']);
  if (Number.isFinite(mtime) && mtime > 0 && mount.backend.capabilities.setModified && mount.backend.setModified) {
    await mount.backend.setModified(path, new Date(mtime * 1000), { signal });
    info = await mount.backend.stat(path, { signal });
    headers['X-OC-MTime'] = 'accepted';
  } else if (!info.etag) {
    info = await mount.backend.stat(path, { signal });
  }
  await chunkBackend.delete(folder, { signal }).catch(() => undefined);
  if (info.etag) Object.assign(headers, { ETag: info.etag, 'OC-ETag': info.etag });
  headers['OC-FileId'] = fileIdOf(mountStateKey(mount.id), path).id;
  sendEmpty(u.res, existing ? 204 : 201, headers);
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

async function removeStale(backend: Backend): Promise<void> {
  const now = Date.now();
  for (const e of await backend.list(UPLOADS_ROOT)) {
    if (e.type === 'directory' && e.lastModified && now - e.lastModified.getTime() > STALE_MS) await backend.delete(e.path);
  }
}
