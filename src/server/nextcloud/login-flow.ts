// Nextcloud login flow v2, the browser login of the Nextcloud mobile and desktop apps:
// POST /index.php/login/v2 starts a flow; the user opens its login URL in a browser and signs
// in with her davcrypt user name and password (a plain form, checked and throttled by the normal
// authenticator); the app polls /index.php/login/v2/poll and receives them once as its "app
// password" (davcrypt has no app passwords). Flows live in the gateway store for 20 minutes, so a
// flow started through one worker (or instance) is granted and polled through any other. The
// store sees neither token (records are keyed by their SHA-256) nor the password: it is sealed
// (AES-256-GCM) under a random flow key, which the store keeps only wrapped under each token.
// Nothing is logged.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Keyv from 'keyv';
import { davError, isDavcryptError } from '../../errors.js';
import { sharedStoreMutex } from '../../store-mutex.js';
import type { ServerDeps } from '../context.js';
import { escapeXml, readBody } from '../xml.js';

const FLOW_MS = 20 * 60_000;
/** Flows one process starts within FLOW_MS (each lives that long in the store). */
const MAX_FLOWS = 1000;
const MAX_FORM_BYTES = 8192;
const FLOW = 'nextcloud:flow:';
const POLL = 'nextcloud:poll:';

interface FlowRecord {
  /** SHA-256 of the poll token. */
  poll: string;
  /** User-Agent of the app that started the flow, shown on the page (phishing: only grant your own app). */
  app: string;
  expires: number;
  /** The flow key wrapped under the login token. */
  key: string;
  /** { loginName, appPassword } sealed under the flow key, once granted. */
  granted?: string;
}

interface PollRecord {
  /** SHA-256 of the login token. */
  flow: string;
  /** The flow key wrapped under the poll token. */
  key: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const tokenKey = (token: string) => Buffer.from(hkdfSync('sha256', Buffer.from(token, 'hex'), Buffer.alloc(0), 'davcrypt login flow v2', 32));

function seal(key: Buffer, plain: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

/** Throws when the tag fails (a record the store altered). */
function open(key: Buffer, sealed: string): Buffer {
  const raw = Buffer.from(sealed, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]);
}

/** Login flows in a store (the gateway store; an in-process one for a server built without it). */
export class LoginFlows {
  /** When the flows this process started end (for MAX_FLOWS). */
  private started: number[] = [];

  constructor(private readonly store: Keyv = new Keyv()) {}

  /** Starts a flow; returns its two tokens (hex). Throws DC_ERR_TOO_MANY_REQUESTS past MAX_FLOWS. */
  async start(app: string, now = Date.now()): Promise<{ loginToken: string; pollToken: string }> {
    this.started = this.started.filter((t) => t > now);
    if (this.started.length >= MAX_FLOWS) throw davError('DC_ERR_TOO_MANY_REQUESTS', 'too many login flows in progress');
    const loginToken = randomBytes(32).toString('hex');
    const pollToken = randomBytes(32).toString('hex');
    const flowKey = randomBytes(32);
    const flow: FlowRecord = { poll: sha256(pollToken), app: app.slice(0, 200), expires: now + FLOW_MS, key: seal(tokenKey(loginToken), flowKey) };
    const poll: PollRecord = { flow: sha256(loginToken), key: seal(tokenKey(pollToken), flowKey) };
    flowKey.fill(0);
    await this.store.set(POLL + flow.poll, poll, FLOW_MS);
    await this.store.set(FLOW + poll.flow, flow, FLOW_MS);
    this.started.push(flow.expires);
    return { loginToken, pollToken };
  }

  /** The app of a flow still waiting for its grant, or undefined (unknown, granted, expired). */
  async pending(loginToken: string, now = Date.now()): Promise<{ app: string } | undefined> {
    const flow = (await this.store.get(FLOW + sha256(loginToken))) as FlowRecord | undefined;
    return flow && !flow.granted && flow.expires > now ? { app: flow.app } : undefined;
  }

  /** Seals the credentials into a pending flow; false when it is unknown, granted or expired. */
  async grant(loginToken: string, credentials: { loginName: string; appPassword: string }, now = Date.now()): Promise<boolean> {
    const id = sha256(loginToken);
    return sharedStoreMutex(this.store).run(FLOW + id, async () => {
      const flow = (await this.store.get(FLOW + id)) as FlowRecord | undefined;
      if (!flow || flow.granted || flow.expires <= now) return false;
      const flowKey = open(tokenKey(loginToken), flow.key);
      const plain = Buffer.from(JSON.stringify(credentials), 'utf8');
      flow.granted = seal(flowKey, plain);
      plain.fill(0);
      flowKey.fill(0);
      await this.store.set(FLOW + id, flow, Math.max(1, flow.expires - now));
      return true;
    });
  }

  /** The granted credentials of the flow with this poll token, once (the flow is deleted); undefined before the grant. */
  async collect(pollToken: string, now = Date.now()): Promise<{ loginName: string; appPassword: string } | undefined> {
    if (!/^[0-9a-f]{64}$/.test(pollToken)) return undefined;
    const poll = (await this.store.get(POLL + sha256(pollToken))) as PollRecord | undefined;
    if (!poll) return undefined;
    return sharedStoreMutex(this.store).run(FLOW + poll.flow, async () => {
      const flow = (await this.store.get(FLOW + poll.flow)) as FlowRecord | undefined;
      if (!flow?.granted || flow.expires <= now) return undefined;
      await this.store.delete(FLOW + poll.flow); // handed out once
      await this.store.delete(POLL + sha256(pollToken));
      const flowKey = open(tokenKey(pollToken), poll.key);
      const plain = open(flowKey, flow.granted);
      flowKey.fill(0);
      const credentials = JSON.parse(plain.toString('utf8')) as { loginName: string; appPassword: string };
      plain.fill(0);
      return credentials;
    });
  }
}

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
    const who = await deps.authenticator.authenticate(user, password, req.socket.remoteAddress ?? '');
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
