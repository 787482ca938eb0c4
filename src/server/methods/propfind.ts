// PROPFIND (our own, replacing webdav-server's): Depth 0/1 (infinity → 403
// propfind-finite-depth), allprop / propname / prop, unknown props in a 404
// propstat, dead props from the store, one backend stat + one list per request.
// Mount points below a folder appear as collections. Writes nothing.
import type { Element } from '@xmldom/xmldom';
import type { EntryInfo } from '../../backends/types.js';
import { davError, isDavcryptError } from '../../errors.js';
import type { ResolvedMount } from '../../users/types.js';
import { locksOf, mountChildNames, statCached, urlPathOf, type DavContext } from '../context.js';
import { lockCovers, type LockRecord } from '../lock-store.js';
import { limitExceeded } from '../limits.js';
import { isLiveName, isQuotaName, liveNames, liveValue, OC_NS, ocValue, type Resource } from '../live-props.js';
import type { DeadProp } from '../prop-store.js';
import { virtualFolder } from '../nextcloud/index.js';
import { encodeHref, RESERVED_SEGMENT } from '../request-paths.js';
import { childElements, DAV_NS, isElement, propElement, propKey, type PropName } from '../xml.js';
import { depthOf, sendXml, sendXmlChunks, XmlChunks, xmlBodyOf } from './common.js';

type Ask = { kind: 'allprop'; include: PropName[] } | { kind: 'propname' } | { kind: 'prop'; props: PropName[] };

function propNamesOf(el: Element): PropName[] {
  return childElements(el).map((c) => ({ ns: c.namespaceURI ?? '', name: c.localName ?? c.nodeName }));
}

async function parseAsk(ctx: DavContext): Promise<Ask> {
  const doc = await xmlBodyOf(ctx);
  if (!doc) return { kind: 'allprop', include: [] };
  const root = doc.documentElement!;
  if (!isElement(root, DAV_NS, 'propfind')) throw davError('DC_ERR_BAD_REQUEST', 'PROPFIND body must be DAV:propfind');
  let ask: Ask | undefined;
  const include: PropName[] = [];
  for (const el of childElements(root)) {
    if (isElement(el, DAV_NS, 'allprop')) ask = { kind: 'allprop', include };
    else if (isElement(el, DAV_NS, 'propname')) ask = { kind: 'propname' };
    else if (isElement(el, DAV_NS, 'prop')) ask = { kind: 'prop', props: propNamesOf(el) };
    else if (isElement(el, DAV_NS, 'include')) include.push(...propNamesOf(el));
  }
  if (!ask) throw davError('DC_ERR_BAD_REQUEST', 'PROPFIND body names no allprop, propname or prop');
  // Each named property costs an element per listed entry: bound the answer before any work.
  const named = (ask.kind === 'prop' ? ask.props.length : 0) + include.length;
  const max = ctx.deps.limits.propfindProps;
  if (named > max) throw limitExceeded('propfindProps', `a PROPFIND naming ${named} properties`, max);
  return ask;
}

/** Should quota props be reported to this client? 'auto' hides them from macOS >= 15.4 (Darwin >= 24.4). */
export function quotaEnabledFor(mode: 'on' | 'off' | 'auto', userAgent: string | undefined): boolean {
  if (mode !== 'auto') return mode === 'on';
  const m = /WebDAVFS\/.*Darwin\/(\d+)\.(\d+)/.exec(userAgent ?? '');
  if (!m) return true;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major < 24 || (major === 24 && minor < 4);
}

/** What describe needs that is the same for every entry of one PROPFIND: the ask, worked out once. */
interface AskPlan {
  ask: Ask;
  /** allprop: live names of a collection and of a file (ALLPROP_LIVE order), then the include names, deduplicated. */
  live?: { collection: LiveWanted[]; file: LiveWanted[] };
  /** prop: the wanted names, deduplicated, with their keys. */
  props?: LiveWanted[];
}

interface LiveWanted {
  p: PropName;
  key: string;
  live: boolean;
  /** The element's tags, written once per request rather than once per listed entry (as propElement writes them). */
  open: string;
  close: string;
  empty: string;
}

function wanted(p: PropName): LiveWanted {
  const empty = propElement(p, undefined);
  const full = propElement(p, '\0');
  const cut = full.indexOf('\0');
  return { p, key: propKey(p), live: isLiveName(p), open: full.slice(0, cut), close: full.slice(cut + 1), empty };
}

function dedupe(list: PropName[]): LiveWanted[] {
  const seen = new Set<string>();
  const out: LiveWanted[] = [];
  for (const p of list) {
    const w = wanted(p);
    if (seen.has(w.key)) continue;
    seen.add(w.key);
    out.push(w);
  }
  return out;
}

function planAsk(ask: Ask): AskPlan {
  if (ask.kind === 'propname') return { ask };
  if (ask.kind === 'prop') return { ask, props: dedupe(ask.props) };
  const liveOf = (collection: boolean) => dedupe([
    ...liveNames({ urlPath: '', collection, info: { name: '', path: '', type: collection ? 'directory' : 'file', size: 0, etag: 'x', lastModified: new Date(0) }, locks: [] }, false)
      .map((name) => ({ ns: DAV_NS, name })),
    ...ask.include,
  ]);
  return { ask, live: { collection: liveOf(true), file: liveOf(false) } };
}

/** Does this ask name a quota property (then the quota is fetched once for the request)? */
function asksQuota(plan: AskPlan): boolean {
  const list = plan.props ?? plan.live?.collection ?? [];
  return list.some((w) => w.live && isQuotaName(w.p.name));
}

/** One DAV:response. Synchronous: large listings cost no promise per entry. */
function describe(r: Resource, plan: AskPlan, dead: Record<string, DeadProp> | undefined, lockUrl: (l: LockRecord) => string): string {
  let ok = '';
  let missing = '';
  const ask = plan.ask;
  if (ask.kind === 'propname') {
    for (const n of liveNames(r, true)) ok += propElement({ ns: DAV_NS, name: n }, undefined);
    if (dead) for (const d of Object.values(dead)) ok += propElement(d, undefined);
  } else {
    const list = plan.props ?? (r.collection ? plan.live!.collection : plan.live!.file);
    for (const w of list) {
      if (w.live) {
        const v = w.p.ns === OC_NS ? ocValue(r, w.p.name) : liveValue(r, w.p.name, lockUrl);
        // allprop: a live prop this resource lacks (no ETag, no dates) is left out, as liveNames says.
        if (v !== undefined) ok += v === '' ? w.empty : w.open + v + w.close;
        else if (plan.props || (ask.kind === 'allprop' && ask.include.some((p) => propKey(p) === w.key))) missing += w.empty;
      } else if (dead?.[w.key]) {
        ok += dead[w.key]!.xml;
      } else {
        missing += w.empty;
      }
    }
    if (ask.kind === 'allprop' && dead) {
      for (const [key, d] of Object.entries(dead)) if (!list.some((w) => w.key === key)) ok += d.xml;
    }
  }
  // encodeHref's output is percent-encoded down to RFC 3986 unreserved characters and '/': nothing to escape for XML.
  let xml = `<D:response><D:href>${encodeHref(r.urlPath, r.collection)}</D:href>`;
  if (ok) xml += `<D:propstat><D:prop>${ok}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
  if (missing) xml += `<D:propstat><D:prop>${missing}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`;
  if (!ok && !missing) xml += `<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
  return xml + '</D:response>';
}

/** A mount point or a folder above mount points (ETag, id and permissions from virtualFolder). */
function virtualResource(urlPath: string, mounts: ResolvedMount[]): Resource {
  return { urlPath, collection: true, locks: [], ...virtualFolder(mounts, urlPath) };
}

export async function handlePropfind(ctx: DavContext): Promise<void> {
  const depth = depthOf(ctx, 'infinity');
  const plan = planAsk(await parseAsk(ctx));
  if (depth === 'infinity') {
    sendXml(ctx.res, 403, '<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>');
    return;
  }
  const quotaOn = quotaEnabledFor(ctx.deps.quota, ctx.req.headers['user-agent']);
  const childUrl = (name: string) => (ctx.url.path === '/' ? '/' : ctx.url.path + '/') + name;
  const out = new XmlChunks();
  out.add('<D:multistatus xmlns:D="DAV:">');
  const t = ctx.target;
  if (t.kind === 'none') throw davError('DC_ERR_NOT_FOUND', 'not found');
  if (t.kind === 'virtual') {
    const none = (_l: LockRecord) => '/';
    out.add(describe(virtualResource(ctx.url.path, ctx.mounts), plan, undefined, none));
    if (depth === '1') for (const c of t.children) out.add(describe(virtualResource(childUrl(c), ctx.mounts), plan, undefined, none));
  } else if (depth === '1' && t.mount.backend.listEach && ctx.stats.size === 0) {
    await describeListing(ctx, t.mount, t.path, plan, quotaOn, out, childUrl);
  } else {
    const mount = t.mount;
    // Depth 1 in one backend request (self and children) where the backend can, unless stat'ed already.
    let listed: { self: EntryInfo; children: EntryInfo[] } | undefined;
    if (depth === '1' && mount.backend.listWithSelf && ctx.stats.size === 0) {
      try {
        listed = await mount.backend.listWithSelf(t.path, { signal: ctx.signal });
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_NOT_A_COLLECTION') || isDavcryptError(err, 'DC_ERR_CONFLICT')) {
          throw davError('DC_ERR_NOT_FOUND', 'not found');
        }
        throw err;
      }
    }
    const info = listed?.self ?? await statCached(ctx, mount, t.path);
    if (!info) throw davError('DC_ERR_NOT_FOUND', 'not found');
    const quota = canQuota(mount, quotaOn) && asksQuota(plan)
      ? await mount.backend.quota!(t.path, { signal: ctx.signal }).catch(() => undefined) : undefined;
    const [locks, deadAll] = await Promise.all([locksOf(ctx, mount), ctx.deps.props.forMount(mount.id)]);
    const lockUrl = (l: LockRecord) => urlPathOf(mount, l.path);
    const resource = (e: EntryInfo, urlPath: string): Resource => ({
      urlPath, collection: e.type === 'directory', info: e,
      locks: locks.length === 0 ? locks : locks.filter((l) => lockCovers(l, e.path)),
      quota: e.type === 'directory' ? quota : undefined, mountId: mount.id,
    });
    out.add(describe(resource(info, ctx.url.path), plan, deadAll[t.path], lockUrl));
    if (depth === '1' && info.type === 'directory') {
      const mountNames = new Set(mountChildNames(ctx.mounts, ctx.url.path, mount));
      const children = listed?.children ?? await mount.backend.list(t.path, { signal: ctx.signal });
      const base = t.path === '/' ? '/' : t.path + '/';
      for (const child of children) {
        if (child.name.toLowerCase() === RESERVED_SEGMENT || mountNames.has(child.name)) continue;
        const path = base + child.name;
        out.add(describe(resource(child.path === path ? child : { ...child, path }, childUrl(child.name)), plan, deadAll[path], lockUrl));
      }
      for (const name of mountNames) out.add(describe(virtualResource(childUrl(name), ctx.mounts), plan, undefined, lockUrl));
    }
  }
  out.add('</D:multistatus>');
  sendXmlChunks(ctx.res, 207, out.finish());
}

/**
 * Depth 1 over Backend.listEach: each entry is described as it is parsed and dropped, so a large
 * folder is never held as entry objects (they made most of a listing's GC work). The folder's own
 * response goes first, whenever the backend names it.
 */
async function describeListing(
  ctx: DavContext, mount: ResolvedMount, path: string, plan: AskPlan, quotaOn: boolean, out: XmlChunks, childUrl: (name: string) => string,
): Promise<void> {
  const [locks, deadAll, quota] = await Promise.all([
    locksOf(ctx, mount),
    ctx.deps.props.forMount(mount.id),
    canQuota(mount, quotaOn) && asksQuota(plan) ? mount.backend.quota!(path, { signal: ctx.signal }).catch(() => undefined) : undefined,
  ]);
  const lockUrl = (l: LockRecord) => urlPathOf(mount, l.path);
  const resource = (e: EntryInfo, urlPath: string): Resource => ({
    urlPath, collection: e.type === 'directory', info: e,
    locks: locks.length === 0 ? locks : locks.filter((l) => lockCovers(l, e.path)),
    quota: e.type === 'directory' ? quota : undefined, mountId: mount.id,
  });
  const mountNames = new Set(mountChildNames(ctx.mounts, ctx.url.path, mount));
  const base = path === '/' ? '/' : path + '/';
  const children = new XmlChunks(false);
  let self: EntryInfo | undefined;
  try {
    await mount.backend.listEach!(path, (entry, isSelf) => {
      if (isSelf) {
        self = entry;
        return;
      }
      if (entry.name.toLowerCase() === RESERVED_SEGMENT || mountNames.has(entry.name)) return;
      const childPath = base + entry.name;
      const e = entry.path === childPath ? entry : { ...entry, path: childPath };
      children.add(describe(resource(e, childUrl(entry.name)), plan, deadAll[childPath], lockUrl));
    }, { signal: ctx.signal });
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_NOT_A_COLLECTION') || isDavcryptError(err, 'DC_ERR_CONFLICT')) {
      throw davError('DC_ERR_NOT_FOUND', 'not found');
    }
    throw err;
  }
  if (!self) throw davError('DC_ERR_NOT_FOUND', 'not found');
  out.add(describe(resource(self, ctx.url.path), plan, deadAll[path], lockUrl));
  if (self.type !== 'directory') return;
  out.append(children);
  for (const name of mountNames) out.add(describe(virtualResource(childUrl(name), ctx.mounts), plan, undefined, lockUrl));
}

function canQuota(mount: ResolvedMount, enabled: boolean): boolean {
  return enabled && mount.backend.capabilities.quota && typeof mount.backend.quota === 'function';
}
