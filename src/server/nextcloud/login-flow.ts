// Nextcloud login flow v2, the browser login of the Nextcloud mobile and desktop apps:
// POST /index.php/login/v2 starts a flow; the user opens its login URL in a browser and signs
// in with her davcrypt user name and password (a plain form, checked and throttled by the normal
// authenticator); the app polls /index.php/login/v2/poll and receives them once as its "app
// password" (davcrypt has no app passwords). Flows live in the gateway store (login-flows.ts), so
// a flow started through one worker (or instance) is granted and polled through any other.
// Nothing is logged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { davError, isDavcryptError } from '../../errors.js';
import { clientAddressOf } from '../client-address.js';
import type { ServerDeps } from '../context.js';
import { escapeXml, readBody } from '../xml.js';
import { LoginFlows } from './login-flows.js';

const MAX_FORM_BYTES = 8192;
/** For a server built without the gateway store (tests of the request layer alone). */
let localFlows: LoginFlows | undefined;

function originOf(req: IncomingMessage): string {
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  const host = String(req.headers.host ?? '127.0.0.1').replace(/[^A-Za-z0-9.:[\]-]/g, '');
  return `${tls ? 'https' : 'http'}://${host}`;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  const buf = Buffer.from(body, 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', buf.length);
  res.setHeader('Cache-Control', 'no-store');
  res.end(buf);
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${title}</title></head><body style="font-family:sans-serif;max-width:24em;margin:3em auto">${body}</body></html>`;
}

function form(message: string): string {
  return page('davcrypt login', `<h1>davcrypt</h1><p>${message}</p><form method="post">` +
    '<p><label>User name<br><input name="user" autocomplete="username" autocapitalize="none" required></label></p>' +
    '<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>' +
    '<p><button type="submit">Grant access</button></p></form>');
}

/** Serves /index.php/login/v2[...]; returns false for other paths. Throws DavcryptErrors. */
export async function serveLoginFlow(req: IncomingMessage, res: ServerResponse, deps: ServerDeps, method: string, path: string): Promise<boolean> {
  if (!path.startsWith('/index.php/login/v2')) return false;
  const flows = deps.loginFlows ?? (localFlows ??= new LoginFlows());
  if (path === '/index.php/login/v2') {
    req.resume();
    if (method !== 'POST') throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'start a login flow with POST');
    const { loginToken, pollToken } = await flows.start(String(req.headers['user-agent'] ?? 'unknown app'));
    const origin = originOf(req);
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify({
      poll: { token: pollToken, endpoint: `${origin}/index.php/login/v2/poll` },
      login: `${origin}/index.php/login/v2/flow/${loginToken}`,
    }));
    return true;
  }
  if (path === '/index.php/login/v2/poll') {
    if (method !== 'POST') throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'poll with POST');
    const token = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8')).get('token') ?? '';
    const granted = await flows.collect(token);
    if (!granted) throw davError('DC_ERR_NOT_FOUND', 'no granted login flow for this token');
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ server: originOf(req), ...granted }));
    return true;
  }
  const m = /^\/index\.php\/login\/v2\/flow\/([0-9a-f]{64})$/.exec(path);
  const flow = m ? await flows.pending(m[1]!) : undefined;
  if (!flow) {
    req.resume();
    throw davError('DC_ERR_NOT_FOUND', 'login flow unknown, used or expired');
  }
  if (method === 'GET' || method === 'HEAD') {
    req.resume();
    send(res, 200, 'text/html; charset=utf-8', form(`An app (${escapeXml(flow.app)}) asks for access to your files. ` +
      'Sign in only if you started this login from your own app just now: the app receives your password.'));
    return true;
  }
  if (method !== 'POST') throw davError('DC_ERR_METHOD_NOT_ALLOWED', 'GET or POST');
  const fields = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8'));
  const user = fields.get('user') ?? '';
  const password = fields.get('password') ?? '';
  try {
    const who = await deps.authenticator.authenticate(user, password, clientAddressOf(req, deps.trustedProxies));
    if (!(await flows.grant(m![1]!, { loginName: who.name, appPassword: password }))) throw davError('DC_ERR_NOT_FOUND', 'login flow unknown, used or expired');
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED')) {
      send(res, 401, 'text/html; charset=utf-8', form('Wrong user name or password.'));
      return true;
    }
    throw err;
  }
  send(res, 200, 'text/html; charset=utf-8', page('davcrypt login', '<h1>Access granted</h1><p>You can close this window and return to the app.</p>'));
  return true;
}
