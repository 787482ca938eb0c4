// The unauthenticated `status.php` and the OCS answers the ownCloud/Nextcloud sync clients
// read before they sync: `cloud/capabilities` and `cloud/user`, in JSON (`format=json`) or XML,
// OCS v1 (statuscode 100) and v2 (statuscode 200). Pure: builds bodies, sends nothing.
import { escapeXml } from '../xml.js';

/** What `status.php` claims. Nextcloud clients want a Nextcloud version, ownCloud clients an ownCloud 10. */
export function statusBody(userAgent: string | undefined): Record<string, unknown> {
  const owncloud = /ownCloud/i.test(userAgent ?? '') && !/Nextcloud/i.test(userAgent ?? '');
  const [version, versionstring] = owncloud ? ['10.13.0.0', '10.13.0'] : ['28.0.0.0', '28.0.0'];
  return {
    installed: true, maintenance: false, needsDbUpgrade: false, version, versionstring,
    edition: '', productname: 'davcrypt', extendedSupport: false,
  };
}

/** `cloud/capabilities` data: chunking NG, no sharing, no trash, no versions, no server-side checksums. */
export function capabilitiesData(userAgent: string | undefined): Record<string, unknown> {
  const s = statusBody(userAgent);
  const [major, minor, micro] = String(s.version).split('.').map(Number);
  return {
    version: { major, minor, micro, string: s.versionstring, edition: '', extendedSupport: false },
    capabilities: {
      core: { pollinterval: 60, 'webdav-root': 'remote.php/webdav', status: { installed: true, maintenance: false } },
      dav: { chunking: '1.0' },
      files: { bigfilechunking: true, undelete: false, versioning: false, blacklisted_files: ['.htaccess'] },
    },
  };
}

/** `cloud/user` data for `name` (display name = login name; no e-mail, no quota figures). */
export function userData(name: string): Record<string, unknown> {
  return { id: name, 'display-name': name, displayname: name, email: null, enabled: true };
}

/** A whole OCS reply: `{ ocs: { meta, data } }` as JSON, or the same as OCS XML. */
export function ocsReply(data: unknown, opts: { v2: boolean; json: boolean; status?: number; message?: string }): { type: string; body: string } {
  const ok = opts.status === undefined;
  const meta = {
    status: ok ? 'ok' : 'failure',
    statuscode: ok ? (opts.v2 ? 200 : 100) : opts.status,
    message: opts.message ?? (ok ? 'OK' : ''),
  };
  if (opts.json) return { type: 'application/json; charset=utf-8', body: JSON.stringify({ ocs: { meta, data } }) };
  return { type: 'text/xml; charset=UTF-8', body: `<?xml version="1.0"?>\n<ocs><meta>${toXml(meta)}</meta><data>${toXml(data)}</data></ocs>` };
}

function toXml(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => `<element>${toXml(v)}</element>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => `<${k}>${toXml(v)}</${k}>`).join('');
  }
  return escapeXml(String(value));
}
