// auth.provider: backend: a login is accepted when the WebDAV backend accepts the same Basic
// credentials: a Depth-0 PROPFIND on the user's {user} URL, or a GET of an OCS cloud/user URL
// (auth.verifyUrl). Redirects are never followed (a 3xx is a refusal). Never logs passwords
// or the Authorization header; holds no state (the authenticator caches and throttles).
import { Agent, request } from 'undici';
import type { Config, WebdavBackendConfig } from '../config/types.js';
import { davError } from '../errors.js';
import type { Logger } from '../logging.js';
import { assertValidUserName } from './names.js';

export interface BackendLogin {
  /** true: the backend accepted the credentials; false: it refused them (401/403/3xx/404). Throws DC_ERR_BACKEND when unreachable or odd. */
  verify(user: string, password: string): Promise<boolean>;
  close(): Promise<void>;
}

const PROPFIND_BODY = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>';

/**
 * The user's home on the backend: the passthrough URL cut after its first segment holding {user}
 * ('…/files/{user}/davcrypt/' → '…/files/{user}/'), which exists before davcrypt made anything there.
 */
export function homeOf(urlTemplate: string): string {
  const at = urlTemplate.indexOf('{user}');
  const end = urlTemplate.indexOf('/', at);
  return end < 0 ? urlTemplate + '/' : urlTemplate.slice(0, end + 1);
}

/** The verifier for a config with auth.provider: backend; undefined otherwise. */
export function createBackendLogin(config: Config, logger: Logger): BackendLogin | undefined {
  if (config.auth.provider !== 'backend') return undefined;
  const mount = config.mounts.find((m) => m.backend.type === 'webdav' && m.backend.passthrough);
  const backend = mount?.backend as WebdavBackendConfig | undefined;
  const template = config.auth.verifyUrl ?? homeOf(backend!.url);
  const ocs = /\/ocs\/v[12]\.php\//.test(template);
  const dispatcher = new Agent({ connect: backend?.ca ? { ca: backend.ca } : {}, headersTimeout: 15_000, bodyTimeout: 15_000 });
  return {
    async verify(user, password) {
      assertValidUserName(user);
      const url = new URL(template.replaceAll('{user}', encodeURIComponent(user)));
      if (ocs) url.searchParams.set('format', 'json');
      const authorization = 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
      let status: number;
      let text: string;
      try {
        const r = await request(url, {
          method: ocs ? 'GET' : 'PROPFIND', dispatcher,
          headers: ocs ? { authorization, 'ocs-apirequest': 'true', accept: 'application/json' }
            : { authorization, depth: '0', 'content-type': 'application/xml; charset=utf-8' },
          ...(ocs ? {} : { body: PROPFIND_BODY }),
        });
        status = r.statusCode;
        text = status === 200 && ocs ? await r.body.text() : (await r.body.dump(), '');
      } catch (err) {
        throw davError('DC_ERR_BACKEND', `login check at ${url.origin} failed: ${(err as Error).message}`, { cause: err });
      }
      if (status === 401 || status === 403 || status === 404 || (status >= 300 && status < 400)) {
        if (status !== 401) logger.info('backend refused a login', { user, status });
        return false;
      }
      if (!ocs) {
        if (status === 207 || status === 200) return true;
        throw davError('DC_ERR_BACKEND', `login check answered ${status}`);
      }
      if (status !== 200) throw davError('DC_ERR_BACKEND', `login check answered ${status}`);
      try {
        const data = JSON.parse(text) as { ocs?: { meta?: { statuscode?: number }; data?: { id?: string } } };
        const code = data.ocs?.meta?.statuscode;
        // OCS may answer 200 with statuscode 997 (unauthorised); the id must be exactly the login name (one record per user).
        return (code === 100 || code === 200) && data.ocs?.data?.id === user;
      } catch {
        throw davError('DC_ERR_BACKEND', 'login check: OCS answer is not JSON');
      }
    },
    close: () => dispatcher.close(),
  };
}
