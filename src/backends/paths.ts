// Backend path helpers shared by every backend: normalize a backend-relative
// path ('/a/b', no trailing slash, no '.'/'..'), split it into parent and name,
// and join. Pure string functions: no I/O, no percent-encoding (see webdav-paths.ts).
import { davError } from '../errors.js';

/**
 * Normalizes a backend path: leading '/', single separators, no trailing '/' (except the root).
 * Throws DC_ERR_FORBIDDEN for '..' segments (a path may never climb out of its root) and
 * DC_ERR_BAD_REQUEST for NUL bytes.
 */
export function normalizePath(path: string): string {
  if (path.includes('\0')) throw davError('DC_ERR_BAD_REQUEST', 'path contains a NUL byte');
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw davError('DC_ERR_FORBIDDEN', `path climbs out of the root: ${path}`, { details: { path } });
    segments.push(segment);
  }
  return '/' + segments.join('/');
}

/** Parent of a normalized path ('/' for top-level entries and for the root itself). */
export function parentPath(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** Last segment of a normalized path ('' for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Joins a normalized folder path and one child name. */
export function joinPath(folder: string, name: string): string {
  return folder === '/' ? '/' + name : folder + '/' + name;
}

/** True when `inner` is `outer` or lies below it (both normalized). */
export function isSameOrInside(outer: string, inner: string): boolean {
  return inner === outer || outer === '/' || inner.startsWith(outer + '/');
}

/**
 * A name as a case-insensitive store (capabilities.caseInsensitive, e.g. Dropbox) compares it:
 * letter case and Unicode form (NFC/NFD) ignored.
 */
export function foldName(name: string): string {
  return name.normalize('NFC').toLowerCase();
}
