// Client-supplied modification times: ownCloud's `X-OC-Mtime: <unix seconds>` on
// PUT/COPY/MOVE (rclone vendor=owncloud/nextcloud/fastmail/rclone) and the
// `<D:lastmodified>` PROPPATCH rclone sends as a fix-up. Applied through
// backend.setModified only when the backend can; never stored as a dead property.
import type { ResolvedMount } from '../../users/types.js';
import type { DavContext } from '../context.js';
import { headerOf } from './common.js';

/** A unix time in seconds (integer or decimal, 0 … year 9999) as a Date; undefined when malformed. */
export function parseUnixSeconds(text: string | undefined): Date | undefined {
  const v = text?.trim();
  if (!v || !/^\d{1,12}(\.\d{1,9})?$/.test(v)) return undefined;
  const ms = Math.round(Number(v) * 1000);
  return ms <= 253402300799000 ? new Date(ms) : undefined;
}

/** True when the mount's backend can set modification times. */
export function canSetModified(mount: ResolvedMount): boolean {
  return mount.backend.capabilities.setModified && typeof mount.backend.setModified === 'function';
}

/**
 * Applies `X-OC-Mtime` to a file just written/copied/moved when the backend can.
 * Returns the response headers to add (`X-OC-MTime: accepted` and the new ETag)
 * or {} when there was nothing to apply. Throws what backend.setModified/stat throw.
 */
export async function applyOcMtime(ctx: DavContext, mount: ResolvedMount, path: string): Promise<Record<string, string>> {
  const mtime = parseUnixSeconds(headerOf(ctx, 'x-oc-mtime'));
  if (!mtime || !canSetModified(mount)) return {};
  await mount.backend.setModified!(path, mtime, { signal: ctx.signal });
  // The ETag may derive from the mtime: report the one the file has now.
  const after = await mount.backend.stat(path, { signal: ctx.signal });
  return { 'X-OC-MTime': 'accepted', ...(after.etag ? { ETag: after.etag } : {}) };
}
