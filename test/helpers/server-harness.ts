// Test harness for src/server until the real app composition exists: a real
// Authenticator over a static user table (constant-time compare), a MountResolver
// giving a LocalBackend (optionally wrapped in EncryptingBackend when it exists)
// on a temp folder, an in-memory keyv store, and the gateway on 127.0.0.1:0.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Keyv } from 'keyv';
import { EncryptingBackend } from '../../src/backends/encrypting.js';
import { LocalBackend } from '../../src/backends/local.js';
import type { Backend } from '../../src/backends/types.js';
import { davError } from '../../src/errors.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { createGatewayServer, type GatewayServer, type GatewayServerOptions } from '../../src/server/index.js';
import type { MountKeySet } from '../../src/crypto/index.js';
import type { AuthenticatedUser, Authenticator, MountResolver, ResolvedMount } from '../../src/users/types.js';
import { homeMountId, sharedMountId } from '../../src/keys/mount-id.js';

export const HARNESS_USER = 'alice';
export const HARNESS_PASSWORD = 'p+ss/w:rd ü';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Authenticator over a fixed table; `throttled` names users that get DC_ERR_TOO_MANY_REQUESTS. */
export class StaticAuthenticator implements Authenticator {
  constructor(private readonly users: Record<string, string>, private readonly throttled = new Set<string>()) {}
  async authenticate(username: string, password: string): Promise<AuthenticatedUser> {
    if (this.throttled.has(username)) throw davError('DC_ERR_TOO_MANY_REQUESTS', 'slow down', { details: { retryAfterSeconds: 30 } });
    const expected = this.users[username];
    const ok = timingSafeEqual(digest(expected ?? randomBytes(16).toString('hex')), digest(password)) && expected !== undefined;
    if (!ok) throw davError('DC_ERR_UNAUTHORIZED', 'wrong user name or password');
    return { name: username };
  }
}

export interface Harness {
  url: string;
  port: number;
  /** Local folder behind the root mount. */
  root: string;
  /** Local folder behind the '/shared' mount (when `shared`). */
  sharedRoot?: string;
  user: string;
  password: string;
  gateway: GatewayServer;
  store: Keyv;
  /** `Authorization` header value for the harness user. */
  auth: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Wrap the root mount in EncryptingBackend with a random key. */
  encrypted?: boolean;
  /** Add a second mount at '/shared'. */
  shared?: boolean;
  quota?: GatewayServerOptions['quota'];
  maxXmlBodyBytes?: number;
  /** Logger for the gateway (default: silent unless DAVCRYPT_TEST_LOG is set). */
  logger?: Logger;
  /** Wraps the backend (e.g. to count calls). */
  wrapBackend?: (b: Backend) => Backend;
}

/** A fresh random mount key set for an encrypted harness mount. */
function randomKeySet(): MountKeySet {
  const current = { id: randomBytes(16), key: randomBytes(32) };
  return { current, get: (id) => ((typeof id === 'string' ? id : id.toString('hex')) === current.id.toString('hex') ? current : undefined) };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness & { encrypted: boolean }> {
  const root = await mkdtemp(join(tmpdir(), 'davcrypt-srv-'));
  const sharedRoot = options.shared ? await mkdtemp(join(tmpdir(), 'davcrypt-srv-shared-')) : undefined;
  let backend: Backend = new LocalBackend(root);
  let encrypted = false;
  if (options.encrypted) {
    backend = new EncryptingBackend(backend, randomKeySet());
    encrypted = true;
  }
  if (options.wrapBackend) backend = options.wrapBackend(backend);
  const mounts: ResolvedMount[] = [];
  if (sharedRoot) mounts.push({ urlPrefix: '/shared', id: sharedMountId('/team'), backend: new LocalBackend(sharedRoot), encrypted: false });
  mounts.push({ urlPrefix: '', id: homeMountId(HARNESS_USER, '/'), backend, encrypted });
  const resolver: MountResolver = { mountsFor: async () => mounts };
  const store = new Keyv();
  const gateway = createGatewayServer({
    authenticator: new StaticAuthenticator({ [HARNESS_USER]: HARNESS_PASSWORD, bob: 'bob-pw' }, new Set(['mallory'])),
    mountResolver: resolver,
    store,
    logger: options.logger ?? createLogger({ silent: !process.env.DAVCRYPT_TEST_LOG, level: 'debug' }),
    quota: options.quota ?? 'on',
    limits: { maxXmlBodyBytes: options.maxXmlBodyBytes ?? 1024 * 1024 },
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`, port, root, sharedRoot, user: HARNESS_USER, password: HARNESS_PASSWORD, gateway, store, encrypted,
    auth: 'Basic ' + Buffer.from(`${HARNESS_USER}:${HARNESS_PASSWORD}`, 'utf8').toString('base64'),
    async close() {
      await gateway.close();
      await rm(root, { recursive: true, force: true });
      if (sharedRoot) await rm(sharedRoot, { recursive: true, force: true });
    },
  };
}

export interface DavResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Buffer;
}

/** One raw request through undici (any method, exact headers), authenticated as the harness user unless `auth: null`. */
export async function dav(
  h: Harness, method: string, path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer | Readable; auth?: string | null } = {},
): Promise<DavResponse> {
  const { request } = await import('undici');
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const auth = opts.auth === undefined ? h.auth : opts.auth;
  if (auth) headers.authorization = auth;
  const res = await request(h.url + path, { method: method as 'GET', headers, body: opts.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, text: body.toString('utf8'), body };
}

/** Sends raw bytes over a TCP socket and returns everything the server answered until it closed or `waitMs` passed. */
export async function rawHttp(h: Harness, payload: string | Buffer, waitMs = 1000): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(h.port, '127.0.0.1', () => socket.write(payload));
    const done = () => { socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => { clearTimeout(timer); done(); });
    socket.on('error', () => { clearTimeout(timer); done(); });
  });
}
