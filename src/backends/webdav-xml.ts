// WebDAV XML: the PROPFIND request bodies (explicit property lists) and a
// namespace-aware parser of 207 multistatus answers (@xmldom/xmldom, never regexes).
// Pure: no I/O; hrefs are returned raw for webdav-paths.ts to map.
import { DOMParser, type Element, type Node } from '@xmldom/xmldom';

const DAV_NS = 'DAV:';
const ELEMENT_NODE = 1;

/** The properties every stat/list asks for. */
export const PROPFIND_ENTRY_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:propfind xmlns:D="DAV:"><D:prop>' +
  '<D:resourcetype/><D:getcontentlength/><D:getetag/><D:getlastmodified/><D:creationdate/><D:getcontenttype/>' +
  '</D:prop></D:propfind>';

/** RFC 4331 quota properties. */
export const PROPFIND_QUOTA_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>';

/** One <D:response> of a multistatus, with only the properties a 2xx propstat carried. */
export interface DavResponse {
  /** The href exactly as sent (still percent-encoded). */
  href: string;
  /** Status of a response that has no propstat (e.g. 404 for that href), else undefined. */
  status?: number;
  collection: boolean;
  contentLength?: number;
  etag?: string;
  lastModified?: Date;
  creationDate?: Date;
  contentType?: string;
  quotaAvailableBytes?: number;
  quotaUsedBytes?: number;
}

function davChildren(parent: Node, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== ELEMENT_NODE) continue;
    const el = n as Element;
    if (el.namespaceURI === DAV_NS && (localName === undefined || el.localName === localName)) out.push(el);
  }
  return out;
}

function textOf(el: Element | undefined): string | undefined {
  const t = el?.textContent?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** "HTTP/1.1 404 Not Found" → 404. */
export function parseStatusLine(line: string | undefined): number | undefined {
  const m = line === undefined ? null : /^HTTP\/\d(?:\.\d)?\s+(\d{3})/i.exec(line.trim());
  return m ? Number(m[1]) : undefined;
}

function parseNumber(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseDate(s: string | undefined): Date | undefined {
  if (s === undefined) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function applyProp(target: DavResponse, prop: Element): void {
  for (const p of davChildren(prop)) {
    switch (p.localName) {
      case 'resourcetype': target.collection = davChildren(p, 'collection').length > 0; break;
      case 'getcontentlength': target.contentLength = parseNumber(textOf(p)); break;
      case 'getetag': target.etag = textOf(p); break;
      case 'getlastmodified': target.lastModified = parseDate(textOf(p)); break;
      case 'creationdate': target.creationDate = parseDate(textOf(p)); break;
      case 'getcontenttype': target.contentType = textOf(p); break;
      case 'quota-available-bytes': target.quotaAvailableBytes = parseNumber(textOf(p)); break;
      case 'quota-used-bytes': target.quotaUsedBytes = parseNumber(textOf(p)); break;
      default: break;
    }
  }
}

/**
 * Parses a 207 multistatus body. Throws an Error (the caller wraps it as DC_ERR_BACKEND)
 * when the XML is malformed or is not a DAV:multistatus.
 */
export function parseMultistatus(xml: string): DavResponse[] {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level: string, message: string) => { if (level !== 'warning') errors.push(message); },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0) throw new Error(`malformed multistatus XML: ${errors[0]}`);
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== DAV_NS || root.localName !== 'multistatus') {
    throw new Error(`expected DAV:multistatus, got ${root ? `{${root.namespaceURI}}${root.localName}` : 'no element'}`);
  }
  const out: DavResponse[] = [];
  for (const response of davChildren(root, 'response')) {
    const href = textOf(davChildren(response, 'href')[0]);
    if (href === undefined) continue;
    const entry: DavResponse = { href, collection: false };
    const propstats = davChildren(response, 'propstat');
    if (propstats.length === 0) entry.status = parseStatusLine(textOf(davChildren(response, 'status')[0]));
    for (const propstat of propstats) {
      const status = parseStatusLine(textOf(davChildren(propstat, 'status')[0]));
      if (status !== undefined && (status < 200 || status > 299)) continue;
      for (const prop of davChildren(propstat, 'prop')) applyProp(entry, prop);
    }
    out.push(entry);
  }
  return out;
}
