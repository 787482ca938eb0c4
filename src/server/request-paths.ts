// URL path handling for the WebDAV front: decode and validate a request path,
// reject traversal and the reserved `.davcrypt` folder, encode hrefs, and parse
// the Destination header. Pure functions: no I/O, no knowledge of mounts.
import { METADATA_FOLDER } from '../backends/layout.js';
import { davError } from '../errors.js';
import { withHttpStatus } from './error-status.js';

/** Name of the reserved per-mount folder that no client may ever see or touch. */
export const RESERVED_SEGMENT = METADATA_FOLDER;

export interface RequestPath {
  /** Decoded, normalized path: '/' or '/a/b' (no trailing slash). */
  path: string;
  /** The raw URL path ended with '/'. */
  trailingSlash: boolean;
}

/** Longest name one path segment may have (UTF-8 bytes; every common file system stops here). */
export const MAX_SEGMENT_BYTES = 255;
/** Longest decoded path (UTF-8 bytes), below PATH_MAX with room for a storage root. */
export const MAX_PATH_BYTES = 3072;

/** True when any segment is `.davcrypt` (case-insensitive). */
export function touchesReserved(path: string): boolean {
  return path.split('/').some((s) => s.toLowerCase() === RESERVED_SEGMENT);
}

/**
 * Decodes the path part of a request target (query and fragment cut off).
 * Throws DC_ERR_BAD_REQUEST for bad escapes, encoded '/', NUL, '.' / '..' segments, a
 * segment over MAX_SEGMENT_BYTES, and (as 414) a path over MAX_PATH_BYTES.
 * Throws DC_ERR_NOT_FOUND for `.davcrypt` anywhere in the path.
 */
export function parseRequestPath(rawTarget: string): RequestPath {
  let raw = rawTarget;
  const cut = raw.indexOf('?');
  if (cut >= 0) raw = raw.slice(0, cut);
  // A fragment is never part of a request target; guessing which resource was meant is unsafe.
  if (raw.includes('#')) throw davError('DC_ERR_BAD_REQUEST', 'request target contains a fragment');
  if (!raw.startsWith('/')) throw davError('DC_ERR_BAD_REQUEST', 'request path must start with /');
  const segments: string[] = [];
  for (const rawSegment of raw.split('/')) {
    if (rawSegment === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(rawSegment);
    } catch {
      throw davError('DC_ERR_BAD_REQUEST', 'malformed percent-encoding in path');
    }
    if (segment.includes('\0')) throw davError('DC_ERR_BAD_REQUEST', 'NUL byte in path');
    if (segment.includes('/') || segment.includes('\\')) throw davError('DC_ERR_BAD_REQUEST', 'encoded separator in path');
    if (segment === '.' || segment === '..') throw davError('DC_ERR_BAD_REQUEST', 'dot segment in path');
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw davError('DC_ERR_BAD_REQUEST', `path segment longer than ${MAX_SEGMENT_BYTES} bytes`);
    segments.push(segment);
  }
  const path = '/' + segments.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw withHttpStatus(davError('DC_ERR_BAD_REQUEST', `path longer than ${MAX_PATH_BYTES} bytes`), 414);
  if (touchesReserved(path)) throw davError('DC_ERR_NOT_FOUND', 'not found');
  return { path, trailingSlash: raw.length > 1 && raw.endsWith('/') };
}

/** A path whose segments encodeURIComponent leaves as they are and the [!'()*] escape does not touch. */
const UNRESERVED_PATH = /^[A-Za-z0-9._~/-]*$/;

/** Percent-encodes each segment (upper-case hex; '#', '?', space, unicode) and adds '/' for collections. */
export function encodeHref(path: string, collection: boolean): string {
  // Most names need no escape (RFC 3986 unreserved characters only): no split, map and join per listed entry.
  const encoded = path === '/' || UNRESERVED_PATH.test(path) ? path
    : path.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/');
  return collection && !encoded.endsWith('/') ? encoded + '/' : encoded;
}

/**
 * Parses a Destination header (absolute URL or absolute path) into a decoded path.
 * Throws DC_ERR_BAD_REQUEST when malformed, DC_ERR_BACKEND (502) when it names another
 * host, DC_ERR_FORBIDDEN when it points into `.davcrypt`.
 */
export function parseDestination(value: string, requestHost: string | undefined): RequestPath {
  let target = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw davError('DC_ERR_BAD_REQUEST', 'malformed Destination');
    }
    if (requestHost && url.host.toLowerCase() !== requestHost.toLowerCase()) {
      throw davError('DC_ERR_BACKEND', 'Destination is on another server');
    }
    // The raw path, not url.pathname: WHATWG URL resolves '%2e%2e' segments, which must be refused instead.
    target = rawPathOf(target);
  }
  if (!target.startsWith('/')) throw davError('DC_ERR_BAD_REQUEST', 'Destination must be an absolute URL or path');
  try {
    return parseRequestPath(target);
  } catch (err) {
    if ((err as { code?: string }).code === 'DC_ERR_NOT_FOUND') {
      throw davError('DC_ERR_FORBIDDEN', 'Destination is reserved');
    }
    throw err;
  }
}

/** Path part (with query) of an absolute URL as sent: no dot-segment resolution, no re-encoding. */
export function rawPathOf(absoluteUrl: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/is.exec(absoluteUrl);
  const rest = m?.[1] ?? '';
  return rest === '' || rest.startsWith('?') ? '/' + rest : rest;
}
