// Which configured mounts a user sees, their stable ids, and the raw (not yet
// encrypting) backend behind each: local folders with {user} substituted, WebDAV
// backends shared per resolved URL (one undici pool each). Holds no keys; the
// caller wraps encrypted mounts. Closes every backend it opened.
import type { Backend } from '../backends/types.js';
import { stat } from 'node:fs/promises';
import { createLocalBackend, createWebdavBackend, LocalBackend, type WebdavBackendOptions } from '../backends/index.js';
import type { MountConfig, WebdavBackendConfig } from '../config/types.js';
import { assertValidUserName } from './names.js';


export class MountBackends {
  private readonly raw = new Map<string, Promise<Backend>>();

  constructor(readonly mounts: MountConfig[]) {}

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

  /** Stable id for per-mount state: 'home:alice', 'home:alice:/photos', 'shared:/team'. */
  mountId(mount: MountConfig, user: string): string {
    if (!mount.perUser) return `shared:${mount.path}`;
    return mount.path === '/' ? `home:${user}` : `home:${user}:${mount.path}`;
  }

  /** Where the backend lives for this user ({user} substituted); for logs, never credentials. */
  location(mount: MountConfig, user: string): string {
    assertValidUserName(user);
    return mount.backend.type === 'local'
      ? mount.backend.root.replaceAll('{user}', user)
      : mount.backend.url.replaceAll('{user}', encodeURIComponent(user));
  }

  /**
   * The raw backend of a mount for a user, opened once per resolved root/URL and shared.
   * Throws DC_ERR_USAGE for an invalid user name, backend errors when the root cannot be opened.
   */
  rawBackend(mount: MountConfig, user: string): Promise<Backend> {
    const where = this.location(mount, user);
    const cacheKey = `${mount.backend.type}:${where}`;
    let backend = this.raw.get(cacheKey);
    if (!backend) {
      backend =
        mount.backend.type === 'local'
          ? createLocalBackend(where)
          : createWebdavBackend({ ...webdavOptions(mount.backend), url: where });
      this.raw.set(cacheKey, backend);
      backend.catch(() => this.raw.delete(cacheKey));
    }
    return backend;
  }

  /**
   * A one-off backend for looking at a mount before anyone has logged in (not cached: close it
   * after use). Undefined when a local root does not exist; never creates folders.
   */
  async probe(mount: MountConfig, user: string): Promise<Backend | undefined> {
    const where = this.location(mount, user);
    if (mount.backend.type === 'local') {
      const isDir = await stat(where).then((s) => s.isDirectory(), () => false);
      return isDir ? new LocalBackend(where, { createRoot: false }) : undefined;
    }
    return createWebdavBackend({ ...webdavOptions(mount.backend), url: where });
  }

  /** Closes every backend opened so far. */
  async close(): Promise<void> {
    const all = [...this.raw.values()];
    this.raw.clear();
    await Promise.all(all.map((p) => p.then((b) => b.close()).catch(() => undefined)));
  }
}

/** True when `user` may use the mount (per-user mounts: everyone unless `users` narrows it). */
export function mountAllows(mount: MountConfig, user: string): boolean {
  if (!mount.users) return mount.perUser;
  return mount.users.includes('*') || mount.users.includes(user);
}

function webdavOptions(b: WebdavBackendConfig): WebdavBackendOptions {
  const out: WebdavBackendOptions = { url: b.url };
  if (b.username !== undefined) out.username = b.username;
  if (b.password !== undefined) out.password = b.password;
  if (b.ca !== undefined) out.ca = b.ca;
  if (b.uploadViaTemp !== undefined) out.uploadViaTemp = b.uploadViaTemp;
  return out;
}
