// Conditional requests evaluated by the gateway (never by webdav-server): the
// WebDAV `If` header (untagged and tagged lists, Not, state tokens, [etags]),
// If-Match / If-None-Match / If-(Un)Modified-Since, and lock enforcement per token.
// A lock token counts only in requests of the user who took the lock (RFC 4918 §6.4):
// on a shared mount another member cannot write through, refresh or release it.
// Reads stats and locks through the request context; writes nothing.
import type { EntryInfo } from '../backends/types.js';
import { davError } from '../errors.js';
import type { ResolvedMount } from '../users/types.js';
import { locksOf, resolveTarget, statCached, type DavContext } from './context.js';
import { guardingLocks, lockCovers, type LockRecord } from './lock-store.js';
import { parseRequestPath, rawPathOf } from './request-paths.js';

export interface IfCondition {
  not: boolean;
  kind: 'token' | 'etag';
  value: string;
}

export interface IfList {
  /** Decoded URL path of the tagged resource; undefined = the request URI. */
  resource?: string;
  conditions: IfCondition[];
}

/** Parses an `If` header (RFC 4918 §10.4). Throws DC_ERR_BAD_REQUEST when malformed. */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let resource: string | undefined;
  let tagged: boolean | undefined;
  const bad = (why: string) => davError('DC_ERR_BAD_REQUEST', `malformed If header: ${why}`);
  const skipWs = () => { while (i < header.length && /\s/.test(header[i]!)) i++; };
  const readUntil = (end: string) => {
    const stop = header.indexOf(end, i);
    if (stop < 0) throw bad(`missing ${end}`);
    const text = header.slice(i, stop);
    i = stop + 1;
    return text;
  };
  for (;;) {
    skipWs();
    if (i >= header.length) break;
    const c = header[i];
    if (c === '<') {
      if (tagged === false) throw bad('tag after untagged list');
      tagged = true;
      i++;
      const url = readUntil('>');
      let path = url;
      try {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) path = rawPathOf(url);
        resource = parseRequestPath(path).path;
      } catch {
        resource = '\0invalid';
      }
      skipWs();
      if (header[i] !== '(') throw bad('tag without list');
    } else if (c === '(') {
      if (tagged === undefined) tagged = false;
      i++;
      const conditions: IfCondition[] = [];
      for (;;) {
        skipWs();
        if (header[i] === ')') { i++; break; }
        if (i >= header.length) throw bad('unterminated list');
        let not = false;
        if (header.slice(i, i + 3).toLowerCase() === 'not') { not = true; i += 3; skipWs(); }
        if (header[i] === '<') { i++; conditions.push({ not, kind: 'token', value: readUntil('>').trim() }); }
        else if (header[i] === '[') { i++; conditions.push({ not, kind: 'etag', value: readUntil(']').trim() }); }
        else throw bad('unexpected character');
      }
      if (conditions.length === 0) throw bad('empty list');
      lists.push({ resource: tagged ? resource : undefined, conditions });
    } else {
      throw bad('unexpected character');
    }
  }
  if (lists.length === 0) throw bad('no lists');
  return lists;
}

/** Tokens named (without Not) anywhere in the If header: the tokens the client submits. */
export function submittedTokens(lists: IfList[]): Set<string> {
  const out = new Set<string>();
  for (const l of lists) for (const c of l.conditions) if (c.kind === 'token' && !c.not) out.add(c.value);
  return out;
}

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
