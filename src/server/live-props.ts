// Live WebDAV properties of one resource as XML fragments: resourcetype, sizes,
// dates, etag, content type, lock discovery, supported locks, quota. Also the
// lock XML shared by LOCK responses. Pure: callers hand in entries and locks.
import type { EntryInfo, QuotaInfo } from '../backends/types.js';
import type { LockRecord } from './lock-store.js';
import { fileIdOf, permissionsOf } from './nextcloud/index.js';
import { encodeHref } from './request-paths.js';
import { DAV_NS, escapeXml, type PropName } from './xml.js';
import { mountStateKey, type MountStateId } from '../users/mount-state.js';

/** One resource being described: a backend entry or a virtual folder. */
export interface Resource {
  /** URL path (decoded). */
  urlPath: string;
  collection: boolean;
  info?: EntryInfo;
  locks: LockRecord[];
  /** The mount's quota, when reported for this request (collections only). */
  quota?: QuotaInfo;
  /** Id of the mount holding it (for ownCloud file ids); undefined for virtual folders. */
  mountId?: MountStateId;
}

/** ownCloud's namespace: the props sync clients ask for (oc:checksums stays unanswered: we keep no checksums). */
export const OC_NS = 'http://owncloud.org/ns';
const OC_LIVE = ['id', 'fileid', 'permissions', 'size'];

/** Live props reported by allprop (RFC 4918 §9.1: quota and displayname only on request). */
export const ALLPROP_LIVE = ['resourcetype', 'creationdate', 'getlastmodified', 'getetag', 'getcontentlength', 'getcontenttype', 'supportedlock', 'lockdiscovery'];
const EXTRA_LIVE = ['displayname', 'quota-available-bytes', 'quota-used-bytes'];
/** DAV: properties a client may never set. */
export const PROTECTED_LIVE = new Set([...ALLPROP_LIVE, 'quota-available-bytes', 'quota-used-bytes']);

/** Live DAV: property names the resource has (for propname and allprop). */
export function liveNames(r: Resource, includeExtra: boolean): string[] {
  const names = ALLPROP_LIVE.filter((n) => {
    if (n === 'getcontentlength' || n === 'getcontenttype') return !r.collection;
    if (n === 'getetag') return !!r.info?.etag;
    if (n === 'getlastmodified' || n === 'creationdate') return !!r.info;
    return true;
  });
  return includeExtra ? [...names, 'displayname'] : names;
}

export function isLiveName(p: PropName): boolean {
  if (p.ns === OC_NS) return OC_LIVE.includes(p.name);
  return p.ns === DAV_NS && (ALLPROP_LIVE.includes(p.name) || EXTRA_LIVE.includes(p.name));
}

/** Value of an oc: live prop, or undefined (→ 404). oc:size only for files: a folder's total is not at hand. */
export function ocValue(r: Resource, name: string): string | undefined {
  if (!r.info) return undefined;
  if (r.mountId === undefined) {
    // A folder above mount points: an id from its URL, and nothing may be done there.
    if (name === 'permissions') return '';
    return name === 'id' || name === 'fileid' ? fileIdOf('virtual', r.urlPath)[name] : undefined;
  }
  switch (name) {
    case 'id': return fileIdOf(mountStateKey(r.mountId), r.info.path).id;
    case 'fileid': return fileIdOf(mountStateKey(r.mountId), r.info.path).fileid;
    case 'permissions': return permissionsOf(r.collection, r.info.path);
    case 'size': return r.collection ? undefined : String(r.info.size);
    default: return undefined;
  }
}

/**
 * Formatted dates by epoch ms, for the two date props: a listing's files share a few seconds, in
 * no particular order (a single last-value slot missed whenever two seconds alternated). Bounded:
 * emptied when full.
 */
const rfc1123Texts = new Map<number, string>();
const isoTexts = new Map<number, string>();
const DATE_TEXTS_MAX = 256;

function remember(texts: Map<number, string>, ms: number, text: string): string {
  if (texts.size >= DATE_TEXTS_MAX) texts.clear();
  texts.set(ms, text);
  return text;
}

function rfc1123(d: Date): string {
  const ms = d.getTime();
  return rfc1123Texts.get(ms) ?? remember(rfc1123Texts, ms, (ms < 0 ? new Date(0) : d).toUTCString());
}

/** ISO 8601 without milliseconds. */
function iso8601(d: Date): string {
  const ms = d.getTime();
  return isoTexts.get(ms) ?? remember(isoTexts, ms, (ms < 0 ? new Date(0) : d).toISOString().replace(/\.\d{3}Z$/, 'Z'));
}

export function activeLockXml(l: LockRecord, rootUrlPath: string, collection: boolean, now = Date.now()): string {
  const remaining = Math.max(0, Math.ceil((l.expiresAt - now) / 1000));
  return `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${l.scope}/></D:lockscope>` +
    `<D:depth>${l.depth === 'infinity' ? 'infinity' : '0'}</D:depth>` +
    (l.ownerXml ? l.ownerXml : '') +
    `<D:timeout>Second-${remaining}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXml(l.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(encodeHref(rootUrlPath, collection))}</D:href></D:lockroot></D:activelock>`;
}

const SUPPORTED_LOCK = '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>';

/**
 * Value of one live DAV: property, or undefined when the resource lacks it (→ 404).
 * `lockUrl` maps a lock to its root URL path. Quota values come from `r.quota`, resolved by the
 * caller once per request (undefined: not reported). Synchronous: no promise per property in big listings.
 */
export function liveValue(r: Resource, name: string, lockUrl: (l: LockRecord) => string): string | undefined {
  switch (name) {
    case 'quota-available-bytes':
    case 'quota-used-bytes': {
      if (!r.collection || !r.quota) return undefined;
      const v = name === 'quota-used-bytes' ? r.quota.used : r.quota.available;
      return v === undefined ? undefined : String(Math.max(0, Math.floor(v)));
    }
    default: return liveValueNow(r, name, lockUrl);
  }
}

/** True for the live props that need the backend's quota answer (fetched once per request). */
export function isQuotaName(name: string): boolean {
  return name === 'quota-available-bytes' || name === 'quota-used-bytes';
}

/** liveValue of every property but the quota ones, synchronously (no promise per property in big listings). */
export function liveValueNow(r: Resource, name: string, lockUrl: (l: LockRecord) => string): string | undefined {
  const info = r.info;
  switch (name) {
    case 'resourcetype': return r.collection ? '<D:collection/>' : '';
    case 'getcontentlength': return r.collection || !info ? undefined : String(info.size);
    case 'getcontenttype': return r.collection || !info ? undefined : escapeXml(info.contentType ?? 'application/octet-stream');
    case 'getetag': return info?.etag ? escapeXml(info.etag) : undefined;
    case 'getlastmodified': return info?.lastModified ? rfc1123(info.lastModified) : undefined;
    case 'creationdate': {
      const d = info?.creationDate ?? info?.lastModified;
      return d ? iso8601(d) : undefined;
    }
    case 'displayname': {
      const n = r.urlPath === '/' ? '' : r.urlPath.slice(r.urlPath.lastIndexOf('/') + 1);
      return escapeXml(n);
    }
    case 'supportedlock': return SUPPORTED_LOCK;
    case 'lockdiscovery': return r.locks.length === 0 ? '' : r.locks.map((l) => activeLockXml(l, lockUrl(l), l.path === (r.info?.path ?? '') ? r.collection : true)).join('');
    default: return undefined;
  }
}
