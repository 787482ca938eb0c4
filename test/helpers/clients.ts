// Client-replay plumbing for the clients-* and hostile-request suites: the composed
// gateway (startTestGateway, encrypted by default) with a log sink that records every
// line (to assert no uncaught exception / internal error was logged), exact-header
// requests through undici, and raw bytes over a loopback socket for what undici refuses
// to send (malformed framing, raw '..', overlong lines). Loopback only.
import net from 'node:net';
import { Writable } from 'node:stream';
import { Client } from 'undici';
import winston from 'winston';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';

export interface LogLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  ms: number;
}

export interface ReqOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Authorization value; default the helper user's Basic header; null sends none. */
  auth?: string | null;
}

export interface ClientGateway {
  gw: TestGateway;
  url: string;
  /** Every log line so far (debug and up). */
  logs: LogLine[];
  /** Log lines that mean trouble: level error, or an uncaught exception. */
  problems(): LogLine[];
  /** One request with exactly these headers; `path` is sent as is (no URL normalisation). */
  req(method: string, path: string, opts?: ReqOptions): Promise<Reply>;
  /** Raw bytes on a fresh socket; resolves with what came back when the server closed or waitMs passed. */
  raw(payload: string | Buffer, waitMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** Starts an (encrypted unless told) gateway with a recording logger. Throws what startTestGateway throws. */
export async function startClientGateway(options: TestGatewayOptions = {}): Promise<ClientGateway> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      try { logs.push(JSON.parse(String(chunk)) as LogLine); } catch { logs.push({ level: 'error', message: `unparsable log line: ${String(chunk)}` }); }
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  const gw = await startTestGateway({ users: { alice: 'alice pw+/:ü' }, ...options, logger });
  const origin = gw.url.replace(/\/$/, '');
  const client = new Client(origin, { pipelining: 0 });
  return {
    gw,
    url: origin,
    logs,
    problems: () => logs.filter((l) => l.level === 'error' || /uncaught/i.test(l.message)),
    async req(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const auth = opts.auth === undefined ? gw.authHeader() : opts.auth;
      if (auth !== null) headers.authorization = auth;
      const started = Date.now();
      const res = await client.request({ method: method as 'GET', path, headers, body: opts.body });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8'), ms: Date.now() - started };
    },
    raw(payload, waitMs = 1500) {
      return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(gw.port, '127.0.0.1', () => socket.write(payload));
        const done = () => { clearTimeout(timer); socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
        const timer = setTimeout(done, waitMs);
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', done);
        socket.on('error', done);
      });
    },
    async close() {
      await client.close().catch(() => undefined);
      await gw.close();
    },
  };
}

/** Status line of a raw HTTP answer ('' when none came). */
export function statusLine(raw: string): string {
  return raw.split('\r\n')[0] ?? '';
}

/** Deterministic bytes of a given length (a cheap PRNG: compressible by nothing, reproducible). */
export function bytesOf(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** PROPFIND body asking for the given DAV: props (other namespaces as `{ns}name`). */
export function propfindBody(props: string[]): string {
  const els = props.map((p) => {
    const m = /^\{(.*)\}(.+)$/.exec(p);
    return m ? `<${m[2]} xmlns="${m[1]}"/>` : `<D:${p}/>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>${els.join('')}</D:prop></D:propfind>`;
}

/** The <D:response> blocks of a multistatus body. */
export function responsesOf(xml: string): string[] {
  return xml.split('<D:response>').slice(1);
}
