// MKCOL, DELETE, COPY and MOVE (our own): RFC 4918 status codes, Overwrite and
// Depth rules, lock checks on source and destination, dead properties following
// COPY/MOVE and dropped on DELETE. The data moves only through the backend's own
// move/copy (no re-encryption, no streaming through the gateway).
import { foldName, isSameOrInside, parentPath } from '../../backends/paths.js';
import { davError } from '../../errors.js';
import { forgetStats, resolveTarget, statCached, type DavContext } from '../context.js';
import { requireLockTokens } from '../conditions.js';
import { parseDestination } from '../request-paths.js';
import { depthOf, discardBody, headerOf, mountTarget, sendEmpty } from './common.js';
import { applyOcMtime } from './mtime.js';
import { mountStateKey } from '../../users/mount-state.js';

export async function handleMkcol(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx);
  const hasBody = Number(headerOf(ctx, 'content-length') ?? '0') > 0 || ctx.req.headers['transfer-encoding'] !== undefined;
  if (hasBody && (await discardBody(ctx)) > 0) throw davError('DC_ERR_UNSUPPORTED_MEDIA_TYPE', 'MKCOL with a body is not supported');
  if (await statCached(ctx, mount, path)) throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'already exists');
  const parent = await statCached(ctx, mount, parentPath(path));
  if (!parent || parent.type !== 'directory') throw davError('DC_ERR_CONFLICT', 'parent folder missing');
  await requireLockTokens(ctx, mount, path, { membership: true });
  await mount.backend.mkdir(path, { signal: ctx.signal });
  sendEmpty(ctx.res, 201);
}

export async function handleDelete(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx, { allowMountRoot: false });
  await discardBody(ctx);
  const info = await statCached(ctx, mount, path);
  if (!info) throw davError('DC_ERR_NOT_FOUND', 'not found');
  if (info.type === 'directory' && depthOf(ctx, 'infinity') !== 'infinity') {
    throw davError('DC_ERR_BAD_REQUEST', 'DELETE of a collection needs Depth: infinity');
  }
  await requireLockTokens(ctx, mount, path, { membership: true, subtree: true });
  await mount.backend.delete(path, { signal: ctx.signal });
  await ctx.deps.props.deleteTree(mount.id, path);
  await ctx.deps.locks.removeUnder(mount.id, path);
  sendEmpty(ctx.res, 204);
}

/** COPY and MOVE share everything but the final backend call and what follows the data. */
export async function handleCopyMove(ctx: DavContext): Promise<void> {
  const isMove = ctx.method === 'MOVE';
  const { mount, path } = mountTarget(ctx, { allowMountRoot: !isMove });
  await discardBody(ctx);
  const destHeader = headerOf(ctx, 'destination');
  if (!destHeader) throw davError('DC_ERR_BAD_REQUEST', 'Destination header missing');
  const dest = parseDestination(destHeader, headerOf(ctx, 'host'));
  const destTarget = resolveTarget(ctx.mounts, dest.path);
  if (destTarget.kind === 'virtual') throw davError('DC_ERR_FORBIDDEN', 'cannot write onto a folder that holds mount points');
  if (destTarget.kind === 'none') throw davError('DC_ERR_CONFLICT', 'destination is outside every mount');
  if (mountStateKey(destTarget.mount.id) !== mountStateKey(mount.id)) throw davError('DC_ERR_BACKEND', 'COPY/MOVE across mounts is not supported');
  const to = destTarget.path;
  if (to === '/') throw davError('DC_ERR_FORBIDDEN', 'cannot replace a mount root');

  const overwriteRaw = (headerOf(ctx, 'overwrite') ?? 'T').trim().toUpperCase();
  if (overwriteRaw !== 'T' && overwriteRaw !== 'F') throw davError('DC_ERR_BAD_REQUEST', 'Overwrite must be T or F');
  const overwrite = overwriteRaw === 'T';

  const source = await statCached(ctx, mount, path);
  if (!source) throw davError('DC_ERR_NOT_FOUND', 'not found');
  // A copy would give a file the gateway refuses to serve a second name; MOVE stays allowed (clearing it away).
  if (!isMove && source.integrityError) throw source.integrityError;
  if (to === path) throw davError('DC_ERR_FORBIDDEN', 'source and destination are the same');
  const depth = depthOf(ctx, 'infinity');
  if (source.type === 'directory') {
    if (depth === '1' || (isMove && depth !== 'infinity')) throw davError('DC_ERR_BAD_REQUEST', `bad Depth for ${ctx.method} of a collection`);
    if (isSameOrInside(path, to)) throw davError('DC_ERR_FORBIDDEN', 'destination lies inside the source');
  }
  // On a case-insensitive store (Dropbox) a respelled target finds the source itself: MOVE is a
  // rename then, never "replace the target" (which would delete the source); COPY has no target.
  const respelled = mount.backend.capabilities.caseInsensitive === true && foldName(to) === foldName(path);
  if (respelled && !isMove) throw davError('DC_ERR_FORBIDDEN', 'source and destination are the same on this case-insensitive store');
  const existing = respelled ? undefined : await statCached(ctx, mount, to);
  if (existing && !overwrite) throw davError('DC_ERR_PRECONDITION_FAILED', 'destination exists and Overwrite is F');
  const destParent = await statCached(ctx, mount, parentPath(to));
  if (!destParent || destParent.type !== 'directory') throw davError('DC_ERR_CONFLICT', 'destination parent folder missing');

  if (isMove) await requireLockTokens(ctx, mount, path, { membership: true, subtree: true });
  await requireLockTokens(ctx, mount, to, { membership: !existing, subtree: !!existing });

  if (existing && (existing.type === 'directory' || source.type === 'directory' || isSameOrInside(to, path))) {
    // A replaced collection is deleted first, never merged (RFC 4918 §9.8.4 / §9.9.3).
    await mount.backend.delete(to, { signal: ctx.signal });
    await ctx.deps.props.deleteTree(mount.id, to);
    await ctx.deps.locks.removeUnder(mount.id, to);
  }
  const replace = !!existing && existing.type === 'file' && source.type === 'file';
  if (isMove) {
    await mount.backend.move(path, to, { overwrite: replace, signal: ctx.signal });
    await ctx.deps.props.moveTree(mount.id, path, to);
    // RFC 4918 §7.5: a lock never moves with its resource; the source's locks go away.
    await ctx.deps.locks.removeUnder(mount.id, path);
  } else if (source.type === 'directory' && depth === '0') {
    await mount.backend.mkdir(to, { signal: ctx.signal });
    await ctx.deps.props.copyTree(mount.id, path, to, true);
  } else {
    await mount.backend.copy(path, to, { overwrite: replace, signal: ctx.signal });
    await ctx.deps.props.copyTree(mount.id, path, to);
  }
  forgetStats(ctx);
  const mtimeHeaders = source.type === 'file' ? await applyOcMtime(ctx, mount, to) : {};
  sendEmpty(ctx.res, existing ? 204 : 201, mtimeHeaders);
}
