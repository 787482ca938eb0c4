// PROPFIND (our own, replacing webdav-server's): Depth 0/1 (infinity → 403
// propfind-finite-depth), allprop / propname / prop, unknown props in a 404
// propstat, dead props from the store, one backend stat + one list per request.
// Mount points below a folder appear as collections. Writes nothing.
import type { Element } from '@xmldom/xmldom';
import type { EntryInfo } from '../../backends/types.js';
import { joinPath } from '../../backends/paths.js';
import { davError, isDavcryptError } from '../../errors.js';
import type { ResolvedMount } from '../../users/types.js';
import { locksOf, mountChildNames, statCached, urlPathOf, type DavContext } from '../context.js';
import { lockCovers, type LockRecord } from '../lock-store.js';
import { isAsyncLiveName, isLiveName, liveNames, liveValue, liveValueNow, type Resource } from '../live-props.js';
import type { DeadProp } from '../prop-store.js';
import { encodeHref, RESERVED_SEGMENT } from '../request-paths.js';
import { childElements, DAV_NS, escapeXml, isElement, propElement, propKey, type PropName } from '../xml.js';
import { depthOf, sendXml, xmlBodyOf } from './common.js';

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

async function describe(
  ctx: DavContext, r: Resource, ask: Ask, dead: Record<string, DeadProp>, lockUrl: (l: LockRecord) => string, quota: boolean,
): Promise<string> {
  const ok: string[] = [];
  const missing: string[] = [];
  const deadList = Object.values(dead);
  if (ask.kind === 'propname') {
    for (const n of liveNames(r, true)) ok.push(propElement({ ns: DAV_NS, name: n }, undefined));
    for (const d of deadList) ok.push(propElement(d, undefined));
  } else {
    const wanted: PropName[] = ask.kind === 'prop' ? ask.props : [...liveNames(r, false).map((name) => ({ ns: DAV_NS, name })), ...ask.include];
    const seen = new Set<string>();
    for (const p of wanted) {
      const key = propKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      if (isLiveName(p)) {
        const v = isAsyncLiveName(p.name) ? await liveValue(r, p.name, lockUrl, quota) : liveValueNow(r, p.name, lockUrl);
        if (v === undefined) missing.push(propElement(p, undefined));
        else ok.push(propElement(p, v));
      } else if (dead[key]) {
        ok.push(dead[key]!.xml);
      } else {
        missing.push(propElement(p, undefined));
      }
    }
    if (ask.kind === 'allprop') for (const d of deadList) if (!seen.has(propKey(d))) ok.push(d.xml);
  }
  let xml = `<D:response><D:href>${escapeXml(encodeHref(r.urlPath, r.collection))}</D:href>`;
  if (ok.length) xml += `<D:propstat><D:prop>${ok.join('')}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
  if (missing.length) xml += `<D:propstat><D:prop>${missing.join('')}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`;
  if (!ok.length && !missing.length) xml += `<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
  return xml + '</D:response>';
}

function virtualResource(urlPath: string): Resource {
  return { urlPath, collection: true, locks: [] };
}

export async function handlePropfind(ctx: DavContext): Promise<void> {
  const depth = depthOf(ctx, 'infinity');
  const ask = await parseAsk(ctx);
  if (depth === 'infinity') {
    sendXml(ctx.res, 403, '<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>');
    return;
  }
  const quota = quotaEnabledFor(ctx.deps.quota, ctx.req.headers['user-agent']);
  const childUrl = (name: string) => (ctx.url.path === '/' ? '/' : ctx.url.path + '/') + name;
  const responses: string[] = [];
  const t = ctx.target;
  if (t.kind === 'none') throw davError('DC_ERR_NOT_FOUND', 'not found');
  if (t.kind === 'virtual') {
    const none = (_l: LockRecord) => '/';
    responses.push(await describe(ctx, virtualResource(ctx.url.path), ask, {}, none, quota));
    if (depth === '1') for (const c of t.children) responses.push(await describe(ctx, virtualResource(childUrl(c)), ask, {}, none, quota));
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
    const [locks, deadAll] = await Promise.all([locksOf(ctx, mount), ctx.deps.props.forMount(mount.id)]);
    const lockUrl = (l: LockRecord) => urlPathOf(mount, l.path);
    let quotaCache: Promise<QuotaOrUndef> | undefined;
    const quotaOf = canQuota(mount, quota) ? () => (quotaCache ??= mount.backend.quota!(t.path, { signal: ctx.signal }).catch(() => undefined)) : undefined;
    const resource = (e: EntryInfo, urlPath: string): Resource => ({
      urlPath, collection: e.type === 'directory', info: e,
      locks: locks.filter((l) => lockCovers(l, e.path)),
      quota: quotaOf,
    });
    responses.push(await describe(ctx, resource(info, ctx.url.path), ask, deadAll[t.path] ?? {}, lockUrl, quota));
    if (depth === '1' && info.type === 'directory') {
      const mountNames = new Set(mountChildNames(ctx.mounts, ctx.url.path, mount));
      const children = listed?.children ?? await mount.backend.list(t.path, { signal: ctx.signal });
      for (const child of children) {
        if (child.name.toLowerCase() === RESERVED_SEGMENT || mountNames.has(child.name)) continue;
        const path = joinPath(t.path, child.name);
        responses.push(await describe(ctx, resource({ ...child, path }, childUrl(child.name)), ask, deadAll[path] ?? {}, lockUrl, quota));
      }
      for (const name of mountNames) responses.push(await describe(ctx, virtualResource(childUrl(name)), ask, {}, lockUrl, quota));
    }
  }
  sendXml(ctx.res, 207, `<D:multistatus xmlns:D="DAV:">${responses.join('')}</D:multistatus>`);
}

type QuotaOrUndef = Awaited<ReturnType<NonNullable<ResolvedMount['backend']['quota']>>> | undefined;

function canQuota(mount: ResolvedMount, enabled: boolean): boolean {
  return enabled && mount.backend.capabilities.quota && typeof mount.backend.quota === 'function';
}
