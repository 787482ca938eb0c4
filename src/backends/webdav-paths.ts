// Maps backend paths to WebDAV request URLs and PROPFIND hrefs back to backend
// paths, for a share that may live under a base path (/remote.php/dav/files/alice/).
// Handles percent-encoding of every reserved character, absolute and relative hrefs,
// and trailing slashes. Pure: no I/O, never sees credentials.
import { normalizePath } from './paths.js';

/** Percent-encodes one path segment: everything but RFC 3986 unreserved characters. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Decodes one href segment; a malformed escape is kept as it is rather than failing the listing. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function decodePath(pathname: string): string[] {
  const segments = pathname.split('/').filter((s) => s !== '');
  // Without a '%' there is nothing to decode (decodeURIComponent would return each segment as it is).
  return pathname.includes('%') ? segments.map(decodeSegment) : segments;
}

export class WebdavPaths {
  /** Origin plus base path, always ending in '/', without credentials, query or fragment. */
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly basePathname: string;
  private readonly baseSegments: string[];

  constructor(url: string | URL) {
    const u = new URL(url.toString());
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    this.baseUrl = u.toString();
    this.origin = u.origin;
    this.basePathname = u.pathname;
    this.baseSegments = decodePath(u.pathname);
  }

  /** Request URL for a normalized backend path; folders get a trailing slash when `collection`. */
  urlFor(path: string, collection = false): string {
    const segments = path.split('/').filter((s) => s !== '').map(encodeSegment);
    if (segments.length === 0) return this.baseUrl;
    return this.origin + this.basePathname + segments.join('/') + (collection ? '/' : '');
  }

  /**
   * Backend path for an href from a multistatus response, or undefined when the href lies
   * outside the share. Accepts absolute URLs ('https://host/dav/a%20b'), absolute paths
   * ('/dav/a%20b/') and paths relative to the base ('a%20b').
   */
  pathFromHref(href: string): string | undefined {
    const plain = this.plainHrefPath(href);
    if (plain !== undefined) return plain;
    let pathname: string;
    const trimmed = href.trim();
    if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
      try {
        pathname = new URL(trimmed).pathname;
      } catch {
        return undefined;
      }
    } else if (trimmed.startsWith('/')) {
      // Taken as is: '#' and '?' inside names must arrive percent-encoded (RFC 4918 hrefs are URIs).
      pathname = trimmed;
    } else {
      pathname = this.basePathname + trimmed;
    }
    const segments = decodePath(pathname);
    if (segments.length < this.baseSegments.length) return undefined;
    for (let i = 0; i < this.baseSegments.length; i++) {
      if (segments[i] !== this.baseSegments[i]) return undefined;
    }
    const rest = segments.slice(this.baseSegments.length);
    if (rest.some((s) => s === '.' || s === '..' || s.includes('/') || s.includes('\0'))) return undefined;
    return normalizePath('/' + rest.join('/'));
  }

  /**
   * pathFromHref's answer without splitting, for the common href of a listing: an absolute path
   * below the base with nothing to decode or normalize (no '%', no empty, '.' or '..' segment, no
   * NUL, no surrounding space). Undefined sends any other href the long way.
   */
  private plainHrefPath(href: string): string | undefined {
    const base = this.basePathname;
    if (!href.startsWith(base) || base.includes('%')) return undefined;
    let end = href.length;
    if (end > base.length && href.charCodeAt(end - 1) === 0x2f /* / */) end -= 1;
    const rest = href.slice(base.length, end);
    if (rest === '') return '/';
    if (rest.charCodeAt(0) === 0x2e /* . */ || rest.charCodeAt(0) === 0x2f || rest.charCodeAt(rest.length - 1) === 0x2f || rest.includes('%') || rest.includes('//') ||
      rest.includes('/.') || rest.includes('\0') || rest.trim() !== rest) return undefined;
    return '/' + rest;
  }
}
