// LOCK and UNLOCK (our own lock manager): opaquelocktoken UUIDs, Timeout honoured
// and capped, refresh via If without body, exclusive/shared, depth 0/infinity,
// LOCK on an unmapped URL creates an empty file (201). State in the LockStore.
import { Readable } from 'node:stream';
import { davError } from '../../errors.js';
import { forgetStats, locksOf, statCached, urlPathOf, type DavContext } from '../context.js';
import { ownsLock, requireLockTokens } from '../conditions.js';
import { limitExceeded } from '../limits.js';
import { activeLockXml } from '../live-props.js';
import { DEFAULT_LOCK_SECONDS, lockCovers, MAX_LOCK_SECONDS, newLockToken, type LockRecord } from '../lock-store.js';
import { childElements, DAV_NS, isElement, serializeNode } from '../xml.js';
import { depthOf, headerOf, mountTarget, sendEmpty, sendXml, xmlBodyOf } from './common.js';

/** Seconds from a Timeout header ('Second-N', 'Infinite', lists), capped. */
export function parseTimeout(header: string | undefined): number {
  if (!header) return DEFAULT_LOCK_SECONDS;
  for (const part of header.split(',').map((p) => p.trim())) {
    if (/^infinite$/i.test(part)) return MAX_LOCK_SECONDS;
    const m = /^second-(\d+)$/i.exec(part);
    if (m) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(m[1])));
  }
  return DEFAULT_LOCK_SECONDS;
}

function lockResponse(ctx: DavContext, status: number, lock: LockRecord, collection: boolean, withHeader: boolean): void {
  const { mount } = mountTarget(ctx);
  const xml = `<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLockXml(lock, urlPathOf(mount, lock.path), collection)}</D:lockdiscovery></D:prop>`;
  sendXml(ctx.res, status, xml, withHeader ? { 'Lock-Token': `<${lock.token}>` } : {});
}

export async function handleLock(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx);
  const doc = await xmlBodyOf(ctx);
  const timeoutSeconds = parseTimeout(headerOf(ctx, 'timeout'));

  if (!doc) {
    // Refresh: the lock named in If (already verified to exist by the If evaluation).
    const locks = await locksOf(ctx, mount);
    const lock = locks.find((l) => ctx.submittedTokens.has(l.token) && lockCovers(l, path) && ownsLock(ctx, l));
    if (!lock) throw davError('DC_ERR_PRECONDITION_FAILED', 'LOCK refresh needs an If header naming a lock on this resource');
    const refreshed = await ctx.deps.locks.refresh(mount.id, lock.token, timeoutSeconds);
    if (!refreshed) throw davError('DC_ERR_PRECONDITION_FAILED', 'the lock expired');
    const info = await statCached(ctx, mount, path);
    lockResponse(ctx, 200, refreshed, info?.type === 'directory', false);
    return;
  }

  const root = doc.documentElement!;
  if (!isElement(root, DAV_NS, 'lockinfo')) throw davError('DC_ERR_BAD_REQUEST', 'LOCK body must be DAV:lockinfo');
  let scope: 'exclusive' | 'shared' | undefined;
  let ownerXml: string | undefined;
  let isWrite = false;
  for (const el of childElements(root)) {
    if (isElement(el, DAV_NS, 'lockscope')) {
      for (const s of childElements(el)) {
        if (isElement(s, DAV_NS, 'exclusive')) scope = 'exclusive';
        else if (isElement(s, DAV_NS, 'shared')) scope = 'shared';
      }
    } else if (isElement(el, DAV_NS, 'locktype')) {
      isWrite = childElements(el).some((t) => isElement(t, DAV_NS, 'write'));
    } else if (isElement(el, DAV_NS, 'owner')) {
      ownerXml = serializeNode(el);
      // Kept with the lock, read with every request on the mount and sent in every lockdiscovery.
      const bytes = Buffer.byteLength(ownerXml, 'utf8');
      if (bytes > ctx.deps.limits.lockOwnerBytes) throw limitExceeded('lockOwnerBytes', `a lock owner of ${bytes} bytes`, ctx.deps.limits.lockOwnerBytes);
    }
  }
  if (!scope || !isWrite) throw davError('DC_ERR_BAD_REQUEST', 'LOCK needs a lockscope and a write locktype');
  const depth = depthOf(ctx, 'infinity');
  if (depth === '1') throw davError('DC_ERR_BAD_REQUEST', 'LOCK Depth must be 0 or infinity');

  const info = await statCached(ctx, mount, path);
  if (!info) {
    if (path === '/' || ctx.url.trailingSlash) throw davError('DC_ERR_CONFLICT', 'cannot lock-create here');
    await requireLockTokens(ctx, mount, path, { membership: true });
  }
  const lock: LockRecord = {
    token: newLockToken(), path, scope, depth: info?.type === 'directory' ? depth : (depth === 'infinity' ? 'infinity' : '0'),
    ...(ownerXml ? { ownerXml } : {}), principal: ctx.user.name, timeoutSeconds,
    expiresAt: Date.now() + timeoutSeconds * 1000,
  };
  await ctx.deps.locks.acquire(mount.id, lock, { maxPerPrincipal: ctx.deps.limits.locksPerUser });
  if (!info) {
    try {
      await mount.backend.write(path, Readable.from([]), { size: 0, signal: ctx.signal });
      forgetStats(ctx);
    } catch (err) {
      await ctx.deps.locks.release(mount.id, lock.token);
      throw err;
    }
  }
  lockResponse(ctx, info ? 200 : 201, lock, info?.type === 'directory', true);
}

export async function handleUnlock(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx);
  const raw = headerOf(ctx, 'lock-token');
  if (!raw) throw davError('DC_ERR_BAD_REQUEST', 'UNLOCK needs a Lock-Token header');
  const token = raw.trim().replace(/^<(.*)>$/, '$1').trim();
  const locks = await locksOf(ctx, mount);
  const lock = locks.find((l) => l.token === token && lockCovers(l, path));
  if (!lock) throw davError('DC_ERR_CONFLICT', 'no such lock on this resource');
  if (!ownsLock(ctx, lock)) throw davError('DC_ERR_FORBIDDEN', 'this lock belongs to another user');
  await ctx.deps.locks.release(mount.id, token);
  sendEmpty(ctx.res, 204);
}
