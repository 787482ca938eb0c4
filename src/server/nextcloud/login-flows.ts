// The store side of Nextcloud login flow v2 (login-flow.ts serves the HTTP side): flows live in
// the gateway store for 20 minutes, so a flow started through one worker (or instance) is granted
// and polled through any other. The store sees neither token (records are keyed by their SHA-256)
// nor the password: it is sealed (AES-256-GCM) under a random flow key, which the store keeps only
// wrapped under each token. Grant and the once-only collect run under the store mutex.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import Keyv from 'keyv';
import { davError } from '../../errors.js';
import { sharedStoreMutex } from '../../store-mutex.js';

const FLOW_MS = 20 * 60_000;
/** Flows one process starts within FLOW_MS (each lives that long in the store). */
const MAX_FLOWS = 1000;
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
