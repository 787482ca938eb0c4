// The ownCloud/Nextcloud URL aliases of a user's normal view: `/remote.php/dav/files/{user}/`
// and `/remote.php/webdav/` map onto the same mounts, rebased under the alias prefix so hrefs,
// lock roots and Destination headers keep the prefix. Folder ETags in the alias view change
// whenever anything may have changed (sync clients descend only into folders whose ETag moved):
// they are made of the change generation shared through the store (generation.ts), so every
// worker and instance serves the same ETags and moves them for a change made through any of them.
// Pure path logic and a read-only backend decorator; never writes to a backend.
import { createHash, randomBytes } from 'node:crypto';
import type { Backend, EntryInfo } from '../../backends/types.js';
import { davError } from '../../errors.js';
import type { ResolvedMount } from '../../users/types.js';
import { mountStateKey, type MountStateId } from '../../users/mount-state.js';

export const REMOTE_PREFIX = '/remote.php';
export const DAV_FILES_PREFIX = '/remote.php/dav/files/';
export const WEBDAV_PREFIX = '/remote.php/webdav';
export const UPLOADS_PREFIX = '/remote.php/dav/uploads/';

/** Which alias a decoded request path uses: its URL prefix (no trailing slash) and the user it names. */
export interface Alias {
  prefix: string;
  /** The user named in the URL (files/{user}, uploads/{user}); undefined for /remote.php/webdav. */
  user?: string;
}

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

/** The alias of `path`, or undefined when the path is outside `/remote.php`. Throws DC_ERR_NOT_FOUND for other `/remote.php` paths. */
export function aliasOf(path: string): Alias | undefined {
  if (!under(path, REMOTE_PREFIX)) return undefined;
  if (under(path, WEBDAV_PREFIX)) return { prefix: WEBDAV_PREFIX };
  for (const base of [DAV_FILES_PREFIX, UPLOADS_PREFIX]) {
    if (path.startsWith(base)) {
      const user = path.slice(base.length).split('/')[0]!;
      if (user !== '') return { prefix: base + user, user };
    }
  }
  throw davError('DC_ERR_NOT_FOUND', 'not found');
}

/**
 * The mounts as seen under `alias` by `userName`: each urlPrefix moved below the alias prefix.
 * Throws DC_ERR_FORBIDDEN when the alias names another user (her files are never opened).
 */
export function aliasMounts(alias: Alias, userName: string, mounts: ResolvedMount[], generation: string = localGeneration): ResolvedMount[] {
  if (alias.user !== undefined && alias.user !== userName) throw davError('DC_ERR_FORBIDDEN', 'another user\'s files');
  return mounts.map((m) => ({
    ...m, urlPrefix: alias.prefix + m.urlPrefix, backend: withTreeEtags(m.backend, m.id, generation), etagAfterWrite: true, folderGeneration: generation,
  }));
}

// Changes seen by this process, for a server without a shared generation (tests that build the
// request layer alone) and for folders above mount points outside the alias views. Starts random,
// so a restart counts as a change (the gateway cannot know what happened while it was down).
let localGeneration = randomBytes(8).toString('hex');
let counter = 0;

/** Call after any request that may have changed some mount (PUT, DELETE, MOVE, ...), whatever its status. */
export function noteChange(): void {
  counter += 1;
  localGeneration = localGeneration.slice(0, 16) + ':' + counter;
}

/** Methods after which noteChange() is due. */
export const CHANGING_METHODS = new Set(['PUT', 'DELETE', 'MKCOL', 'MOVE', 'COPY', 'PROPPATCH', 'LOCK', 'POST', 'PATCH']);

/**
 * A folder's ETag: moves with the generation. It deliberately ignores the backend's own folder
 * ETag (most backends change it only for direct children), so a mount root reads the same whether
 * it is listed as itself or as a mount point in its parent folder.
 */
/** `stateKey`: mountStateKey() of the mount, or 'virtual' for a folder above mount points. */
export function folderEtag(stateKey: string, path: string, generation: string = localGeneration): string {
  const h = createHash('sha256').update(generation).update('\0').update(stateKey).update('\0').update(path);
  return `"${h.digest('hex').slice(0, 32)}"`;
}

/** `backend` with folder ETags replaced by folderEtag(); files untouched. */
export function withTreeEtags(backend: Backend, id: MountStateId, generation: string = localGeneration): Backend {
  const stateKey = mountStateKey(id);
  const fix = (e: EntryInfo): EntryInfo => (e.type === 'directory' ? { ...e, etag: folderEtag(stateKey, e.path, generation) } : e);
  return new Proxy(backend, {
    get(target, prop) {
      switch (prop) {
        case 'stat': return async (p: string, o?: object) => fix(await target.stat(p, o));
        case 'list': return async (p: string, o?: object) => (await target.list(p, o)).map(fix);
        case 'listWithSelf':
          if (!target.listWithSelf) return undefined;
          return async (p: string, o?: object) => {
            const r = await target.listWithSelf!(p, o);
            return { self: fix(r.self), children: r.children.map(fix) };
          };
        case 'listEach':
          if (!target.listEach) return undefined;
          return (p: string, on: (e: EntryInfo, self: boolean) => void, o?: object) => target.listEach!(p, (e, self) => on(fix(e), self), o);
        default: {
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
      }
    },
  });
}

/**
 * What a folder without a backend entry of its own is: a mount point (the root of the mount at
 * that URL: its id and 'CK' permissions) or a folder above mount points (read-only). Sync clients
 * refuse entries without ETag, id and permissions ("Server reported no permission, ETag, file id").
 */
export function virtualFolder(mounts: ResolvedMount[], urlPath: string): { info: EntryInfo; mountId?: MountStateId } {
  const name = urlPath.slice(urlPath.lastIndexOf('/') + 1);
  const root = mounts.find((m) => m.urlPrefix === urlPath);
  // Clients also refuse a folder without a modification time ("Cannot sync due to invalid modification time").
  // In the alias views: when the shared generation was published (the last change), the same in every worker.
  const generation = mounts[0]?.folderGeneration ?? localGeneration;
  const published = Number(generation.split('.')[1]);
  const lastModified = published > 0 ? new Date(Math.floor(published / 1000) * 1000) : STARTED;
  if (root) return { info: { name, path: '/', type: 'directory', size: 0, etag: folderEtag(mountStateKey(root.id), '/', generation), lastModified }, mountId: root.id };
  return { info: { name, path: urlPath, type: 'directory', size: 0, etag: folderEtag('virtual', urlPath, generation), lastModified } };
}

/** When this process started: the modification time reported for folders that exist only in the config (outside the alias views). */
const STARTED = new Date(Math.floor(Date.now() / 1000) * 1000);

/**
 * A stable file id for (mount, backend path): ownCloud's `oc:fileid` (a positive integer below 2^53)
 * and `oc:id` (the id padded to 8 digits plus an instance tag). It follows the path, so a rename
 * gives a new id (clients then download instead of moving: slower, never wrong).
 */
/** `stateKey` as for folderEtag(). */
export function fileIdOf(stateKey: string, path: string): { fileid: string; id: string } {
  const h = createHash('sha256').update(stateKey).update('\0').update(path).digest();
  const n = (h.readUInt32BE(0) & 0x1fffff) * 0x100000000 + h.readUInt32BE(4);
  const fileid = String(n === 0 ? 1 : n);
  return { fileid, id: fileid.padStart(8, '0') + 'davcrypt' };
}

/** ownCloud permission letters: no sharing (R/S); the mount root cannot be deleted or renamed. */
export function permissionsOf(collection: boolean, path: string): string {
  const root = path === '/';
  if (collection) return root ? 'CK' : 'DNVCK';
  return 'DNVW';
}
