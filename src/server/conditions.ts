// Conditional requests evaluated by the gateway: the WebDAV `If` header (parsed by
// if-header.ts: untagged and tagged lists, Not, state tokens, [etags]),
// If-Match / If-None-Match / If-(Un)Modified-Since, and lock enforcement per token.
// A lock token counts only in requests of the user who took the lock (RFC 4918 §6.4):
// on a shared mount another member cannot write through, refresh or release it.
// Reads stats and locks through the request context; writes nothing.
import type { EntryInfo } from '../backends/types.js';
import { davError } from '../errors.js';
import type { ResolvedMount } from '../users/types.js';
import { locksOf, resolveTarget, statCached, type DavContext } from './context.js';
import { guardingLocks, lockCovers, type LockRecord } from './lock-store.js';

export { parseIfHeader, submittedTokens, type IfCondition, type IfList } from './if-header.js';

function stripWeak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Evaluates the `If` header: true when any list holds. Needs stats only for etag conditions. */
export async function evaluateIf(ctx: DavContext): Promise<boolean> {
  for (const list of ctx.ifLists) {
    const urlPath = list.resource ?? ctx.url.path;
    const target = urlPath.startsWith('\0') ? { kind: 'none' as const } : resolveTarget(ctx.mounts, urlPath);
    let ok = true;
    for (const cond of list.conditions) {
      let holds = false;
      if (target.kind === 'mount') {
        if (cond.kind === 'token') {
          const locks = await locksOf(ctx, target.mount);
          holds = locks.some((l) => l.token === cond.value && lockCovers(l, target.path) && ownsLock(ctx, l));
        } else {
          const info = await statCached(ctx, target.mount, target.path);
          holds = info?.etag !== undefined && stripWeak(info.etag) === stripWeak(cond.value);
        }
      }
      if (cond.not) holds = !holds;
      if (!holds) { ok = false; break; }
    }
    if (ok) return true;
  }
  return false;
}

/** Entity-tag list match (If-Match uses strong comparison, If-None-Match weak). */
function etagListMatches(header: string, info: EntryInfo | undefined, weak: boolean): boolean {
  if (!info) return false;
  if (header.trim() === '*') return true;
  if (!info.etag) return false;
  const current = weak ? stripWeak(info.etag) : info.etag;
  if (!weak && current.startsWith('W/')) return false;
  return header.split(',').map((t) => t.trim()).some((t) => (weak ? stripWeak(t) : t) === current);
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * RFC 9110 preconditions on the request target: returns 304 or 412 when one fails,
 * undefined when the request may proceed (also when the target is not in a mount).
 */
export async function evaluateHttpPreconditions(ctx: DavContext): Promise<304 | 412 | undefined> {
  const h = ctx.req.headers;
  const ifMatch = h['if-match'];
  const ifNoneMatch = h['if-none-match'];
  const ifUnmodified = parseDate(h['if-unmodified-since']);
  const ifModified = parseDate(h['if-modified-since']);
  if (ifMatch === undefined && ifNoneMatch === undefined && ifUnmodified === undefined && ifModified === undefined) return undefined;
  if (ctx.target.kind !== 'mount') return undefined;
  const info = await statCached(ctx, ctx.target.mount, ctx.target.path);
  const safe = ctx.method === 'GET' || ctx.method === 'HEAD';
  const mtime = info?.lastModified ? Math.floor(info.lastModified.getTime() / 1000) * 1000 : undefined;
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, info, false)) return 412;
  } else if (ifUnmodified !== undefined && info && mtime !== undefined && mtime > ifUnmodified) {
    return 412;
  }
  if (ifNoneMatch !== undefined) {
    if (etagListMatches(ifNoneMatch, info, true)) return safe ? 304 : 412;
  } else if (safe && ifModified !== undefined && info && mtime !== undefined && mtime <= ifModified) {
    return 304;
  }
  return undefined;
}

/** Is this the user who took the lock? Another user's token never satisfies it. */
export function ownsLock(ctx: DavContext, lock: LockRecord): boolean {
  return lock.principal === ctx.user.name;
}

/**
 * Enforces write locks per token: every lock guarding the change must have one of its
 * tokens (per lock root) among the tokens the client submitted, and the lock must be
 * this user's. Throws DC_ERR_LOCKED.
 */
export async function requireLockTokens(
  ctx: DavContext, mount: ResolvedMount, path: string, opts: { membership?: boolean; subtree?: boolean },
): Promise<void> {
  const locks = await locksOf(ctx, mount);
  if (locks.length === 0) return;
  const byRoot = new Map<string, string[]>();
  for (const l of guardingLocks(locks, path, opts)) byRoot.set(l.path, [...(byRoot.get(l.path) ?? []), ownsLock(ctx, l) ? l.token : '']);
  for (const [root, tokens] of byRoot) {
    if (!tokens.some((t) => ctx.submittedTokens.has(t))) {
      throw davError('DC_ERR_LOCKED', `locked: ${root}`, { details: { path: root } });
    }
  }
}
