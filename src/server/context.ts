// Per-request state of the WebDAV front and the mount mapping: which mount and
// backend path a URL path names, virtual folders above mount points, and
// per-request caches (one stat per path, one lock-list read per mount).
// Must not parse HTTP itself (request-layer.ts does) nor write responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { EntryInfo } from '../backends/types.js';
import { isDavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { AuthenticatedUser, Authenticator, MountResolver, ResolvedMount } from '../users/types.js';
import type { IfList } from './if-header.js';

import type { ServerLimits } from './limits.js';
import type { LockRecord, LockStore } from './lock-store.js';
import type { SharedGeneration } from './nextcloud/generation.js';
import type { LoginFlows } from './nextcloud/login-flows.js';
import type { PropStore } from './prop-store.js';
import type { RequestPath } from './request-paths.js';
import type { WebFront } from './web-front.js';
import { mountStateKey } from '../users/mount-state.js';

export interface ServerDeps {
  authenticator: Authenticator;
  mountResolver: MountResolver;
  locks: LockStore;
  props: PropStore;
  logger: Logger;
  realm: string;
  maxXmlBodyBytes: number;
  /** Dead property, lock and PROPFIND bounds (limits.ts). */
  limits: ServerLimits;
  /** Reverse proxies whose X-Forwarded-For is believed (client-address.ts). */
  trustedProxies?: BlockList;
  quota: 'on' | 'off' | 'auto';
  /** The browser front (src/web): page, sign-in, session cookies, share links. */
  web?: WebFront;
  /** An upload whose body sends nothing for this long is dropped with 408 (0: never). */
  uploadIdleMs?: number;
  /** Answers the health endpoint (store, backends); without it the endpoint says ok. */
  health?: () => Promise<HealthReport>;
  /** The change generation of the ownCloud/Nextcloud folder ETags, shared through the store; per process when absent. */
  folderGeneration?: SharedGeneration;
  /** Nextcloud login flow v2, in the gateway store; in-process when absent. */
  loginFlows?: LoginFlows;
}

/** What the health endpoint reports: overall ok, and each checked part with its state. */
export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; ms: number; error?: string }>;
}

/** What a URL path names: a path inside a mount, a virtual folder above mount points, or nothing. */
export type Target =
  | { kind: 'mount'; mount: ResolvedMount; path: string }
  | { kind: 'virtual'; children: string[] }
  | { kind: 'none' };

export interface DavContext {
  req: IncomingMessage;
  res: ServerResponse;
  deps: ServerDeps;
  method: string;
  url: RequestPath;
  user: AuthenticatedUser;
  mounts: ResolvedMount[];
  target: Target;
  /** Parsed `If` header (removed from the request headers before dispatch). */
  ifLists: IfList[];
  /** Lock tokens the client submitted in `If`. */
  submittedTokens: Set<string>;
  /** Aborted when the client goes away before the response finished. */
  signal: AbortSignal;
  stats: Map<string, Promise<EntryInfo | undefined>>;
  lockLists: Map<string, Promise<LockRecord[]>>;
}

/** The mount containing `urlPath` (longest prefix), virtual folder, or none. */
export function resolveTarget(mounts: ResolvedMount[], urlPath: string): Target {
  const sorted = [...mounts].sort((a, b) => b.urlPrefix.length - a.urlPrefix.length);
  for (const mount of sorted) {
    if (mount.urlPrefix === '' || urlPath === mount.urlPrefix || urlPath.startsWith(mount.urlPrefix + '/')) {
      return { kind: 'mount', mount, path: urlPath.slice(mount.urlPrefix.length) || '/' };
    }
  }
  const children = mountChildNames(mounts, urlPath, undefined);
  return children.length > 0 ? { kind: 'virtual', children } : { kind: 'none' };
}

/** Names of mount points (or folders leading to them) directly below `urlPath`, deeper than `own`. */
export function mountChildNames(mounts: ResolvedMount[], urlPath: string, own: ResolvedMount | undefined): string[] {
  const base = urlPath === '/' ? '/' : urlPath + '/';
  const names = new Set<string>();
  for (const m of mounts) {
    if (m === own || m.urlPrefix === '' || !m.urlPrefix.startsWith(base)) continue;
    if (own && m.urlPrefix.length <= own.urlPrefix.length) continue;
    names.add(m.urlPrefix.slice(base.length).split('/')[0]!);
  }
  return [...names].filter((n) => n !== '');
}

/** URL path of a backend path inside a mount. */
export function urlPathOf(mount: ResolvedMount, backendPath: string): string {
  return mount.urlPrefix + (backendPath === '/' ? '' : backendPath) || '/';
}

/** Stat through the per-request cache; undefined when missing. Other errors propagate. */
export function statCached(ctx: DavContext, mount: ResolvedMount, path: string): Promise<EntryInfo | undefined> {
  const key = `${mountStateKey(mount.id)}\0${path}`;
  let hit = ctx.stats.get(key);
  if (!hit) {
    hit = mount.backend.stat(path, { signal: ctx.signal }).catch((err: unknown) => {
      if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_NOT_A_COLLECTION') || isDavcryptError(err, 'DC_ERR_CONFLICT')) return undefined;
      throw err;
    });
    ctx.stats.set(key, hit);
  }
  return hit;
}

/** Forgets cached stats of one mount (after a change). */
export function forgetStats(ctx: DavContext): void {
  ctx.stats.clear();
  ctx.lockLists.clear();
}

/** Locks of a mount through the per-request cache. */
export function locksOf(ctx: DavContext, mount: ResolvedMount): Promise<LockRecord[]> {
  const key = mountStateKey(mount.id);
  let hit = ctx.lockLists.get(key);
  if (!hit) {
    hit = ctx.deps.locks.list(mount.id);
    ctx.lockLists.set(key, hit);
  }
  return hit;
}
