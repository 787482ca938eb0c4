// WebDAV XML: the PROPFIND request bodies (explicit property lists) and a streaming,
// namespace-aware parser of 207 multistatus answers (the multistatus scanner of
// webdav-xml-scan.ts, saxes for anything else; no DOM): only href, status, propstat and the
// handful of DAV: props used are kept.
// Pure: no I/O; hrefs are returned raw for webdav-paths.ts to map.
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { davError } from '../errors.js';
import { MultistatusScanner, type MultistatusEvents } from './webdav-xml-scan.js';

const DAV_NS = 'DAV:';

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

/** Date strings parsed, as epoch ms: a listing's files share a few seconds, and parsing is the cost. Emptied when full. */
const parsedDates = new Map<string, number>();
const PARSED_DATES_MAX = 256;

function parseDate(s: string | undefined): Date | undefined {
  if (s === undefined) return undefined;
  let ms = parsedDates.get(s);
  if (ms === undefined) {
    ms = new Date(s).getTime();
    if (parsedDates.size >= PARSED_DATES_MAX) parsedDates.clear();
    parsedDates.set(s, ms);
  }
  // A fresh Date each time: callers own (and may change) what they get.
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

function nonEmpty(text: string): string | undefined {
  const t = text.trim();
  return t === '' ? undefined : t;
}

const KNOWN_PROPS = new Set(['getcontentlength', 'getetag', 'getlastmodified', 'creationdate', 'getcontenttype', 'quota-available-bytes', 'quota-used-bytes']);

function applyProp(target: DavResponse, name: string, text: string | undefined): void {
  switch (name) {
    case 'getcontentlength': target.contentLength = parseNumber(text); break;
    case 'getetag': target.etag = text; break;
    case 'getlastmodified': target.lastModified = parseDate(text); break;
    case 'creationdate': target.creationDate = parseDate(text); break;
    case 'getcontenttype': target.contentType = text; break;
    case 'quota-available-bytes': target.quotaAvailableBytes = parseNumber(text); break;
    case 'quota-used-bytes': target.quotaUsedBytes = parseNumber(text); break;
    default: break;
  }
}

/** Where an open element sits in the multistatus grammar ('other' = ignored subtree). */
type Frame = 'multistatus' | 'response' | 'href' | 'responseStatus' | 'propstat' | 'prop' | 'propstatStatus' | 'property' | 'other';

/** Feeds text in pieces; `end()` returns the responses. Both throw an Error on malformed XML or a non-multistatus root. */
export interface MultistatusParser {
  write(chunk: string): void;
  end(): DavResponse[];
  /** True once the document went to the general parser (saxes) instead of the multistatus scanner. */
  readonly general: boolean;
}

/**
 * The multistatus grammar over namespace-resolved element events, whoever tokenizes: the scanner
 * (webdav-xml-scan.ts) and saxes feed the same events, so they cannot disagree on what a property
 * belongs to. Each response goes to `emit` when it closes. Throws DC_ERR_BACKEND for a root that is
 * not DAV:multistatus.
 */
export function createMultistatusBuilder(emit: (r: DavResponse) => void): MultistatusEvents & { readonly sawRoot: boolean } {
  const stack: Frame[] = [];
  let sawRoot = false;
  // Text collection: textContent of the element opened at textDepth (href, status or a property).
  let textDepth = -1;
  let text = '';
  // The response being read.
  let entry: DavResponse | undefined;
  let href: string | undefined;
  let responseStatus: string | undefined;
  let propstats = 0;
  // The propstat being read: its properties apply only once its status is known to be 2xx.
  // (kept in two reused arrays: no allocation per property; only the properties applyProp knows)
  const propNames: string[] = [];
  const propValues: Array<string | undefined> = [];
  let propCount = 0;
  let pendingCollection: boolean | undefined;
  let propstatStatus: string | undefined;
  let propertyName = '';

  return {
    get sawRoot() { return sawRoot; },
    get collecting() { return textDepth !== -1; },
    open(uri: string, name: string): void {
      const dav = uri === DAV_NS;
      const parent = stack[stack.length - 1];
      let frame: Frame = 'other';
      if (parent === undefined) {
        if (sawRoot || !dav || name !== 'multistatus') throw davError('DC_ERR_BACKEND', `expected DAV:multistatus, got {${uri}}${name}`);
        sawRoot = true;
        frame = 'multistatus';
      } else if (parent === 'multistatus') {
        if (dav && name === 'response') {
          frame = 'response';
          entry = { href: '', collection: false };
          href = undefined;
          responseStatus = undefined;
          propstats = 0;
        }
      } else if (parent === 'response' && dav) {
        if (name === 'href' && href === undefined) frame = 'href';
        else if (name === 'status' && responseStatus === undefined) frame = 'responseStatus';
        else if (name === 'propstat') {
          frame = 'propstat';
          propstats += 1;
          propCount = 0;
          pendingCollection = undefined;
          propstatStatus = undefined;
        }
      } else if (parent === 'propstat' && dav) {
        if (name === 'prop') frame = 'prop';
        else if (name === 'status' && propstatStatus === undefined) frame = 'propstatStatus';
      } else if (parent === 'prop' && dav) {
        frame = 'property';
        propertyName = name;
        if (name === 'resourcetype') pendingCollection = false;
      } else if (parent === 'property' && dav && name === 'collection' && propertyName === 'resourcetype') {
        pendingCollection = true;
      }
      stack.push(frame);
      if (frame === 'href' || frame === 'responseStatus' || frame === 'propstatStatus' || frame === 'property') {
        textDepth = stack.length;
        text = '';
      }
    },
    text(data: string): void {
      if (textDepth !== -1) text += data;
    },
    close(): void {
      const depth = stack.length;
      const frame = stack.pop();
      if (depth === textDepth) {
        textDepth = -1;
        if (frame === 'href') href = nonEmpty(text) ?? '';
        else if (frame === 'responseStatus') responseStatus = text;
        else if (frame === 'propstatStatus') propstatStatus = text;
        else if (frame === 'property' && KNOWN_PROPS.has(propertyName)) {
          propNames[propCount] = propertyName;
          propValues[propCount] = nonEmpty(text);
          propCount += 1;
        }
      }
      if (frame === 'propstat' && entry) {
        const status = parseStatusLine(propstatStatus);
        if (status === undefined || (status >= 200 && status <= 299)) {
          if (pendingCollection !== undefined) entry.collection = pendingCollection;
          for (let i = 0; i < propCount; i++) applyProp(entry, propNames[i]!, propValues[i]);
        }
      } else if (frame === 'response' && entry) {
        if (href !== undefined && href !== '') {
          entry.href = href;
          if (propstats === 0) entry.status = parseStatusLine(responseStatus);
          emit(entry);
        }
        entry = undefined;
      }
    },
  };
}

/** saxes (namespace aware, any well-formed XML 1.0/1.1) driving a builder; throws saxes' Error when malformed. */
function saxesDriver(events: MultistatusEvents): { write(chunk: string): void; close(): void } {
  const parser = new SaxesParser({ xmlns: true, position: false });
  parser.on('opentag', (tag) => {
    const t = tag as SaxesTagNS;
    events.open(t.uri, t.local);
  });
  parser.on('text', (data) => events.text(data));
  parser.on('cdata', (data) => events.text(data));
  parser.on('closetag', () => events.close());
  return { write: (chunk) => { parser.write(chunk); }, close: () => { parser.close(); } };
}

/**
 * A streaming multistatus parser: memory holds the results, not the document. With `onResponse`,
 * each response goes there as soon as it is closed and is not kept (end() then returns []).
 * The multistatus scanner reads it (saxes cost a Depth-1 listing half its CPU); whatever the
 * scanner does not vouch for (a DTD, XML 1.1, non-ASCII names, entities in attributes, malformed
 * markup, one response over 1 MiB) goes from the last response boundary to saxes, which then
 * parses or rejects the rest exactly as it did alone. `general: true` uses saxes throughout.
 */
export function createMultistatusParser(onResponse?: (r: DavResponse) => void, opts: { general?: boolean } = {}): MultistatusParser {
  const out: DavResponse[] = [];
  const emit = onResponse ?? ((r: DavResponse) => { out.push(r); });
  let scanner: MultistatusScanner | undefined = opts.general ? undefined : new MultistatusScanner(createMultistatusBuilder(emit));
  let builder: ReturnType<typeof createMultistatusBuilder> | undefined;
  let general: ReturnType<typeof saxesDriver> | undefined;
  const toGeneral = (replay: string) => {
    scanner = undefined;
    builder = createMultistatusBuilder(emit);
    general = saxesDriver(builder);
    if (replay !== '') general.write(replay);
  };
  if (!scanner) toGeneral('');
  return {
    get general() { return general !== undefined; },
    write(chunk: string): void {
      if (scanner) {
        const replay = scanner.write(chunk);
        if (replay !== undefined) toGeneral(replay);
      } else {
        general!.write(chunk);
      }
    },
    end(): DavResponse[] {
      if (scanner) {
        const replay = scanner.end();
        if (replay === undefined) return out;
        toGeneral(replay);
      }
      general!.close();
      if (!builder!.sawRoot) throw davError('DC_ERR_BACKEND', 'expected DAV:multistatus, got no element');
      return out;
    },
  };
}

/**
 * Parses a whole 207 multistatus body. Throws DC_ERR_BACKEND when it is not a DAV:multistatus, and
 * saxes' own Error when the XML is malformed (the caller wraps both as DC_ERR_BACKEND with its context).
 */
export function parseMultistatus(xml: string): DavResponse[] {
  const p = createMultistatusParser();
  p.write(xml);
  return p.end();
}
