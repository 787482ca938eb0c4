// PROPPATCH (our own): any number of set/remove blocks applied in order and
// atomically; protected live props → 403 and the rest 424 (RFC 4918 §9.2);
// Win32* props (urn:schemas-microsoft-com:) answered 200, Win32LastModifiedTime
// applied as mtime when the backend can, as is rclone's <D:lastmodified> (403 when it
// cannot be). Dead props go to the PropStore.
import { davError } from '../../errors.js';
import { statCached, type DavContext } from '../context.js';
import { requireLockTokens } from '../conditions.js';
import { limitExceeded } from '../limits.js';
import { PROTECTED_LIVE } from '../live-props.js';
import type { DeadProp } from '../prop-store.js';
import { encodeHref } from '../request-paths.js';
import { childElements, DAV_NS, escapeXml, isElement, propElement, serializeNode, type PropName } from '../xml.js';
import { mountTarget, sendXml, xmlBodyOf } from './common.js';
import { canSetModified, parseUnixSeconds } from './mtime.js';

const MS_NS = 'urn:schemas-microsoft-com:';

interface Op {
  kind: 'set' | 'remove';
  prop: PropName;
  xml: string;
  text: string;
}

export async function handleProppatch(ctx: DavContext): Promise<void> {
  const { mount, path } = mountTarget(ctx);
  const doc = await xmlBodyOf(ctx);
  if (!doc || !isElement(doc.documentElement!, DAV_NS, 'propertyupdate')) {
    throw davError('DC_ERR_BAD_REQUEST', 'PROPPATCH body must be DAV:propertyupdate');
  }
  const info = await statCached(ctx, mount, path);
  if (!info) throw davError('DC_ERR_NOT_FOUND', 'not found');
  await requireLockTokens(ctx, mount, path, {});

  const ops: Op[] = [];
  for (const block of childElements(doc.documentElement!)) {
    const kind = isElement(block, DAV_NS, 'set') ? 'set' : isElement(block, DAV_NS, 'remove') ? 'remove' : undefined;
    if (!kind) continue;
    for (const propEl of childElements(block)) {
      if (!isElement(propEl, DAV_NS, 'prop')) continue;
      for (const el of childElements(propEl)) {
        ops.push({ kind, prop: { ns: el.namespaceURI ?? '', name: el.localName ?? el.nodeName }, xml: serializeNode(el), text: el.textContent ?? '' });
      }
    }
  }

  const { propValueBytes } = ctx.deps.limits;
  for (const o of ops) {
    const bytes = Buffer.byteLength(o.xml, 'utf8');
    if (o.kind === 'set' && bytes > propValueBytes) throw limitExceeded('propValueBytes', `property {${o.prop.ns}}${o.prop.name} of ${bytes} bytes`, propValueBytes);
  }

  // rclone (vendor owncloud/nextcloud) sets the mtime as <D:lastmodified>unix seconds</D:lastmodified>:
  // 200 only when it really is applied, else 403 so that rclone falls back to re-uploading.
  const isMtime = (o: Op) => o.prop.ns === DAV_NS && o.prop.name === 'lastmodified';
  const mtimeOk = (o: Op) => o.kind === 'set' && info.type === 'file' && canSetModified(mount) && parseUnixSeconds(o.text) !== undefined;
  const forbidden = ops.filter((o) => (o.prop.ns === DAV_NS && PROTECTED_LIVE.has(o.prop.name)) || (isMtime(o) && !mtimeOk(o)));
  const statuses: Array<{ prop: PropName; status: string }> = [];
  if (forbidden.length > 0) {
    for (const o of ops) {
      statuses.push({ prop: o.prop, status: forbidden.includes(o) ? '403 Forbidden' : '424 Failed Dependency' });
    }
  } else {
    const sets: DeadProp[] = [];
    const removes: PropName[] = [];
    let mtime: Date | undefined;
    for (const o of ops) {
      if (isMtime(o)) {
        mtime = parseUnixSeconds(o.text);
      } else if (o.prop.ns === MS_NS) {
        if (o.kind === 'set' && o.prop.name === 'Win32LastModifiedTime') {
          const ms = Date.parse(o.text);
          if (!Number.isNaN(ms)) mtime = new Date(ms);
        }
      } else if (o.kind === 'set') {
        sets.push({ ...o.prop, xml: o.xml });
      } else {
        removes.push(o.prop);
      }
      statuses.push({ prop: o.prop, status: '200 OK' });
    }
    if (mtime && mount.backend.capabilities.setModified && mount.backend.setModified && info.type === 'file') {
      await mount.backend.setModified(path, mtime, { signal: ctx.signal });
    }
    // Sets and removes in document order: a later op on the same name wins.
    const finalSets = new Map<string, DeadProp>();
    const finalRemoves = new Map<string, PropName>();
    for (const o of ops) {
      if (o.prop.ns === MS_NS || isMtime(o)) continue;
      const key = `{${o.prop.ns}}${o.prop.name}`;
      if (o.kind === 'set') { finalSets.set(key, { ...o.prop, xml: o.xml }); finalRemoves.delete(key); }
      else { finalRemoves.set(key, o.prop); finalSets.delete(key); }
    }
    if (finalSets.size || finalRemoves.size) await ctx.deps.props.apply(mount.id, path, [...finalSets.values()], [...finalRemoves.values()], ctx.deps.limits);
  }
  const byStatus = new Map<string, string[]>();
  for (const s of statuses) byStatus.set(s.status, [...(byStatus.get(s.status) ?? []), propElement(s.prop, undefined)]);
  let body = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>${escapeXml(encodeHref(ctx.url.path, info.type === 'directory'))}</D:href>`;
  for (const [status, props] of byStatus) {
    body += `<D:propstat><D:prop>${props.join('')}</D:prop><D:status>HTTP/1.1 ${status}</D:status></D:propstat>`;
  }
  if (byStatus.size === 0) body += '<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>';
  body += '</D:response></D:multistatus>';
  sendXml(ctx.res, 207, body);
}
