// Which configured mounts a user sees, their stable ids, and the raw (not yet
// encrypting) backend behind each: local folders with {user} substituted, WebDAV
// backends shared per resolved URL (one undici pool each), Dropbox folders sharing one
// API client per mount. Holds no keys; the
// caller wraps encrypted mounts. Closes every backend it opened. Creates a
// per-user WebDAV home folder (MKCOL) the first time it is found missing.
import type { Backend } from '../backends/types.js';
import { readdir, stat } from 'node:fs/promises';
import {
  createDropboxBackend, createLocalBackend, createWebdavBackend, DropboxApi, LocalBackend, readDropboxTokenFile,
  observeBackend, RefreshingDropboxToken, StaticDropboxToken, WebdavBackend, type UploadProbeLogger, type WebdavBackendOptions,
  type WebdavTimeouts,
} from '../backends/index.js';
import type { DropboxBackendConfig, MountConfig, WebdavBackendConfig } from '../config/types.js';
import { davError, isDavcryptError } from '../errors.js';
import { assertValidUserName, isValidUserName } from './names.js';
import { homeMountId, sharedMountId, type MountId } from '../keys/mount-id.js';


export class MountBackends {
  private readonly raw = new Map<string, Promise<Backend>>();
  /** One Dropbox API client (token, pacer, connections) per Dropbox mount, shared by its users. */
  private readonly dropboxClients = new Map<MountConfig, Promise<DropboxApi>>();
  /** `auth: passthrough` mounts: each user's password from her last verified login (memory only) and a version
   *  that changes with it, so a changed password opens a new backend instead of reusing the old credentials. */
  private readonly passthrough = new Map<string, { password: string; version: number }>();

  /** `logger` receives each WebDAV backend's uploadViaTemp 'auto' decision (info) and probe failures (warn). */
  constructor(readonly mounts: MountConfig[], private readonly logger?: UploadProbeLogger, private readonly timeouts?: WebdavTimeouts) {}

  /** Records the password a verified login used, for mounts with `auth: passthrough`. Never logged. */
  setPassthroughPassword(user: string, password: string): void {
    const had = this.passthrough.get(user);
    if (had?.password === password) return;
    this.passthrough.set(user, { password, version: (had?.version ?? 0) + 1 });
  }

  /** WebDAV options of a mount for a user: the service account, or her own credentials with passthrough. */
  private webdavFor(b: WebdavBackendConfig, user: string | undefined): WebdavBackendOptions {
    const out = webdavOptions(b, this.timeouts);
    if (b.passthrough && user !== undefined) {
      const known = this.passthrough.get(user);
      if (known) {
        out.username = user;
        out.password = known.password;
      }
    }
    return out;
  }

  /** The mounts `user` may use, in config order. */
  mountsFor(user: string): MountConfig[] {
    return this.mounts.filter((m) => mountAllows(m, user));
  }

  /** The user's home: the first per-user mount she may use, preferring the one at '/'. */
  homeMount(user: string): MountConfig | undefined {
    const mine = this.mountsFor(user).filter((m) => m.perUser);
    return mine.find((m) => m.path === '/') ?? mine[0];
  }

  /** Users listed on a shared mount ('*' means every user, resolved by the caller). */
  members(mount: MountConfig): string[] | '*' {
    if (!mount.users || mount.users.includes('*')) return '*';
    return mount.users;
  }

  /** Stable id for per-mount state (src/keys/mount-id.ts); `user` is ignored for a shared mount. */
  mountId(mount: MountConfig, user?: string): MountId {
    if (!mount.perUser) return sharedMountId(mount.path);
    if (user === undefined) throw davError('DC_ERR_INTERNAL', `mount ${mount.path} is per user: its id needs the user`);
    return homeMountId(user, mount.path);
  }

  /**
   * Where the backend lives ({user} substituted); for logs, never credentials. `user` names the
   * owner of a per-user mount and is ignored for a shared one (it has no {user}), so a shared
   * mount's location never depends on who asks. Throws DC_ERR_USAGE for an invalid or missing owner.
   */
  location(mount: MountConfig, user: string | undefined): string {
    const template = mount.backend.type === 'webdav' ? mount.backend.url : mount.backend.root;
    if (!mount.perUser) return template;
    if (user === undefined) throw davError('DC_ERR_USAGE', `mount ${mount.path} is per-user: its location needs the user`);
    assertValidUserName(user);
    return template.replaceAll('{user}', mount.backend.type === 'webdav' ? encodeURIComponent(user) : user);
  }

  /**
   * The raw backend of a mount, opened once per resolved root/URL and shared: for a per-user
   * mount, `user`'s (her home); for a shared mount the one backend (`user` ignored, may be undefined).
   * The cache key is the resolved location (what the backend is), never a user name on its own.
   * Throws DC_ERR_USAGE for an invalid or missing owner, backend errors when the root cannot be opened.
   */
  rawBackend(mount: MountConfig, user?: string): Promise<Backend> {
    const where = this.location(mount, user);
    // Two Dropbox mounts may name the same folder in different accounts. Passthrough is per user
    // (config: its URL holds {user}), so `user` is her own name there.
    const passthroughUser = mount.perUser && mount.backend.type === 'webdav' && mount.backend.passthrough ? user : undefined;
    const cacheKey = mount.backend.type === 'dropbox' ? `dropbox#${this.mounts.indexOf(mount)}:${where}`
      : passthroughUser !== undefined ? `webdav:${where}#${this.passthrough.get(passthroughUser)?.version ?? 0}`
        : `${mount.backend.type}:${where}`;
    let backend = this.raw.get(cacheKey);
    if (!backend) {
      const b = mount.backend;
      backend = b.type === 'dropbox'
        ? this.dropboxClient(mount, b).then((client) => createDropboxBackend({ root: where, client, createRoot: mount.perUser }))
        : b.type === 'local'
          ? createLocalBackend(where)
          : createWebdavBackend({ ...this.webdavFor(b, user), url: where, logger: this.logger }).catch(async (err: unknown) => {
              if (!mount.perUser || user === undefined || !isDavcryptError(err, 'DC_ERR_NOT_FOUND')) throw err;
              const own = this.webdavFor(b, user);
              await createWebdavHome({ ...b, username: own.username, password: own.password }, user).catch((mkErr: unknown) => {
                // Not the client's conflict (409, unlogged): the operator's storage lacks the folder above {user}.
                if (!isDavcryptError(mkErr, 'DC_ERR_CONFLICT') && !isDavcryptError(mkErr, 'DC_ERR_NOT_FOUND')) throw mkErr;
                throw davError('DC_ERR_BACKEND', `webdav:${baseUrlAbove(b.url)}: the folder above {user} is missing on the storage; ` +
                  'create it, or fix the mount URL', { cause: mkErr });
              });
              return createWebdavBackend({ ...this.webdavFor(b, user), url: where, logger: this.logger });
            });
      backend = backend.then((opened) => observeBackend(opened, { mount: mount.path, backend: b.type })); // ops: backend metrics
      this.raw.set(cacheKey, backend);
      backend.catch(() => this.raw.delete(cacheKey));
    }
    return backend;
  }

  /**
   * A one-off backend for looking at a mount before anyone has logged in (not cached: close it
   * after use). Undefined when a local root does not exist; never creates folders.
   */
  async probe(mount: MountConfig, user?: string): Promise<Backend | undefined> {
    const where = this.location(mount, user);
    if (mount.backend.type === 'local') {
      const isDir = await stat(where).then((s) => s.isDirectory(), () => false);
      return isDir ? new LocalBackend(where, { createRoot: false }) : undefined;
    }
    if (mount.backend.type === 'dropbox') {
      // Its own API client, closed with the backend by the caller.
      return createDropboxBackend({ root: where, api: await dropboxApiOptions(mount.backend) }).catch((err: unknown) => {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return undefined;
        throw err;
      });
    }
    return createWebdavBackend({ ...this.webdavFor(mount.backend, user), url: where }).catch((err: unknown) => {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return undefined;
      throw err;
    });
  }

  /**
   * Names of the per-user homes that exist on a mount's backend: the folders beside where `{user}`
   * goes (the parent of the first path segment holding it) whose names fit that segment, valid user
   * names only. For `davcrypt restore` after a lost store; whatever the backend shows is only a
   * candidate. Empty when the parent folder is missing. Throws other backend errors.
   */
  async homeNames(mount: MountConfig): Promise<string[]> {
    if (!mount.perUser) return [];
    let parentNames: string[];
    let segment: string;
    if (mount.backend.type === 'local') {
      const parts = mount.backend.root.split('/');
      const i = parts.findIndex((p) => p.includes('{user}'));
      if (i < 0) return [];
      segment = parts[i]!;
      const dir = parts.slice(0, i).join('/') || '/';
      parentNames = await readdir(dir, { withFileTypes: true }).then(
        (entries) => entries.filter((e) => e.isDirectory()).map((e) => e.name),
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
          throw err;
        },
      );
    } else if (mount.backend.type === 'dropbox') {
      const parts = mount.backend.root.split('/');
      const i = parts.findIndex((p) => p.includes('{user}'));
      if (i < 0) return [];
      segment = parts[i]!;
      const parentRoot = parts.slice(0, i).join('/') || '/';
      const client = await this.dropboxClient(mount, mount.backend);
      try {
        const parent = await createDropboxBackend({ root: parentRoot, client, createRoot: false });
        parentNames = (await parent.list('/')).filter((e) => e.type === 'directory').map((e) => e.name);
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return [];
        throw err;
      }
    } else {
      const { parentUrl, segment: seg } = userParentUrl(mount.backend.url);
      if (!parentUrl) return [];
      segment = seg;
      const parent = new WebdavBackend({ ...webdavOptions(mount.backend, this.timeouts), url: parentUrl });
      try {
        parentNames = (await parent.list('/')).filter((e) => e.type === 'directory').map((e) => e.name);
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return [];
        throw err;
      } finally {
        await parent.close();
      }
    }
    const [prefix, ...rest] = segment.split('{user}');
    const suffix = rest[rest.length - 1] ?? '';
    const out = new Set<string>();
    for (const entry of parentNames) {
      if (!entry.startsWith(prefix!) || !entry.endsWith(suffix) || entry.length <= prefix!.length + suffix.length) continue;
      // With several {user} in one segment the first one decides; the name must rebuild the entry exactly.
      for (let end = prefix!.length + 1; end <= entry.length; end++) {
        const name = entry.slice(prefix!.length, end);
        if (isValidUserName(name) && segment.replaceAll('{user}', name) === entry) out.add(name);
      }
    }
    return [...out].sort();
  }

  /**
   * Checks that a mount's storage answers and that its base folder exists: the root of a shared
   * mount, or for a per-user mount the folder above `{user}` (homes below it are created at
   * login). Opens nothing that stays open. Throws DC_ERR_NOT_FOUND (base folder missing),
   * DC_ERR_BACKEND_UNAVAILABLE / DC_ERR_BACKEND_TIMEOUT / DC_ERR_BACKEND_UNAUTHORIZED; messages name the location.
   */
  async checkBase(mount: MountConfig, signal?: AbortSignal): Promise<void> {
    const b = mount.backend;
    if (b.type === 'local') {
      const base = b.root.includes('{user}') ? b.root.slice(0, b.root.indexOf('{user}')) : b.root;
      const folder = base.endsWith('/') || base === '' ? base || '/' : base.slice(0, base.lastIndexOf('/') + 1) || '/';
      const isDir = await stat(folder).then((st) => st.isDirectory(), () => false);
      // A local base is created on first use (mkdir -p): only a path that cannot become a folder is a fault.
      if (!isDir && !(await creatableFolder(folder))) {
        throw davError('DC_ERR_NOT_FOUND', `local:${folder}: not a folder and cannot be created`, { details: { path: folder } });
      }
      return;
    }
    if (b.type === 'dropbox') {
      const parts = b.root.split('/');
      const cut = parts.findIndex((p) => p.includes('{user}'));
      const base = cut < 0 ? b.root : parts.slice(0, cut).join('/') || '/';
      // Dropbox creates missing parents itself: only an unreachable account or a base that is a file is a fault.
      const backend = await createDropboxBackend({ root: base, client: await this.dropboxClient(mount, b), createRoot: false }).catch((err: unknown) => {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return undefined;
        throw err;
      });
      await backend?.stat('/', { signal });
      return;
    }
    const base = baseUrlAbove(b.url);
    const backend = new WebdavBackend({ ...webdavOptions(b, this.timeouts), url: base });
    try {
      const root = await backend.stat('/', { signal });
      if (root.type !== 'directory') throw davError('DC_ERR_NOT_FOUND', `webdav:${base}: not a folder`);
    } finally {
      await backend.close();
    }
  }

  /**
   * The mount and user a mount id names ('home:alice', 'home:alice:/photos', 'shared:/team'), or
   * undefined when no configured mount matches (e.g. the config changed since).
   */
  resolveMountId(id: MountId): { mount: MountConfig; user?: string } | undefined {
    if (id.kind === 'shared') {
      const mount = this.mounts.find((m) => !m.perUser && m.path === id.path);
      return mount ? { mount } : undefined;
    }
    const mount = this.mounts.find((m) => m.perUser && m.path === id.path);
    return mount ? { mount, user: id.user } : undefined;
  }

  private dropboxClient(mount: MountConfig, b: DropboxBackendConfig): Promise<DropboxApi> {
    let client = this.dropboxClients.get(mount);
    if (!client) {
      client = dropboxApiOptions(b).then((opts) => new DropboxApi(opts));
      this.dropboxClients.set(mount, client);
      client.catch(() => this.dropboxClients.delete(mount));
    }
    return client;
  }

  /** Closes every backend opened so far. */
  async close(): Promise<void> {
    const all = [...this.raw.values()];
    this.raw.clear();
    await Promise.all(all.map((p) => p.then((b) => b.close()).catch(() => undefined)));
    const clients = [...this.dropboxClients.values()];
    this.dropboxClients.clear();
    await Promise.all(clients.map((p) => p.then((c) => c.close()).catch(() => undefined)));
  }
}

/** True when `user` may use the mount (per-user mounts: everyone unless `users` narrows it). */
export function mountAllows(mount: MountConfig, user: string): boolean {
  if (!mount.users) return mount.perUser;
  return mount.users.includes('*') || mount.users.includes(user);
}

/**
 * MKCOLs the folders of a per-user WebDAV URL from the first path segment holding {user} down,
 * e.g. https://h/dav/{user}/files/ -> MKCOL /dav/alice/, /dav/alice/files/. Existing folders are
 * fine. Throws backend errors (e.g. DC_ERR_CONFLICT when the part above {user} is missing).
 */
export async function createWebdavHome(b: WebdavBackendConfig, user: string): Promise<void> {
  assertValidUserName(user);
  const template = new URL(b.url.replaceAll('{user}', '__DAVCRYPT_USER__'));
  const segments = template.pathname.split('/').filter((s) => s !== '');
  const first = segments.findIndex((s) => s.includes('__DAVCRYPT_USER__'));
  if (first < 0) return;
  const base = new URL(template.href);
  base.pathname = '/' + segments.slice(0, first).map((s) => s + '/').join('');
  const parent = new WebdavBackend({ ...webdavOptions(b), url: base.href });
  try {
    let path = '';
    for (const seg of segments.slice(first)) {
      path += '/' + decodeURIComponent(seg).replaceAll('__DAVCRYPT_USER__', user);
      try {
        await parent.mkdir(path);
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_EXISTS')) throw err;
      }
    }
  } finally {
    await parent.close();
  }
}

/** API client options of a Dropbox mount: a refresh token with an app key, else a plain access token. */
async function dropboxApiOptions(b: DropboxBackendConfig) {
  const token = b.tokenFile !== undefined ? await readDropboxTokenFile(b.tokenFile) : b.token!;
  const tokens = b.appKey !== undefined
    ? new RefreshingDropboxToken({ appKey: b.appKey, refreshToken: token, apiBase: b.apiBase })
    : new StaticDropboxToken(token);
  return { tokens, apiBase: b.apiBase, contentBase: b.contentBase };
}

/** The folder URL above the first path segment of a per-user WebDAV URL holding {user}, and that segment (decoded). */
function userParentUrl(url: string): { parentUrl?: string; segment: string } {
  const template = new URL(url.replaceAll('{user}', '__DAVCRYPT_USER__'));
  const segments = template.pathname.split('/').filter((s) => s !== '');
  const first = segments.findIndex((s) => s.includes('__DAVCRYPT_USER__'));
  if (first < 0) return { segment: '' };
  const base = new URL(template.href);
  base.pathname = '/' + segments.slice(0, first).map((s) => s + '/').join('');
  return { parentUrl: base.href, segment: decodeURIComponent(segments[first]!).replaceAll('__DAVCRYPT_USER__', '{user}') };
}

function webdavOptions(b: WebdavBackendConfig, timeouts?: WebdavTimeouts): WebdavBackendOptions {
  const out: WebdavBackendOptions = { url: b.url };
  if (timeouts) out.timeouts = timeouts;
  if (b.username !== undefined) out.username = b.username;
  if (b.password !== undefined) out.password = b.password;
  if (b.ca !== undefined) out.ca = b.ca;
  if (b.uploadViaTemp !== undefined) out.uploadViaTemp = b.uploadViaTemp;
  return out;
}

/** The part of a WebDAV URL above its first `{user}` segment (the URL itself without one). */
function baseUrlAbove(url: string): string {
  const template = new URL(url.replaceAll('{user}', '__DAVCRYPT_USER__'));
  const segments = template.pathname.split('/').filter((seg) => seg !== '');
  const first = segments.findIndex((seg) => seg.includes('__DAVCRYPT_USER__'));
  if (first < 0) return url;
  template.pathname = '/' + segments.slice(0, first).map((seg) => seg + '/').join('');
  return template.href;
}

/** True when the nearest existing ancestor of `folder` is a folder (so mkdir -p can make it). */
async function creatableFolder(folder: string): Promise<boolean> {
  let dir = folder.replace(/\/+$/, '');
  while (dir.length > 0) {
    const st = await stat(dir).catch(() => undefined);
    if (st) return st.isDirectory();
    dir = dir.slice(0, dir.lastIndexOf('/'));
  }
  return true;
}
