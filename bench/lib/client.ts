// undici-based WebDAV client used for every measurement: one keep-alive Agent,
// pipelining off (1 request in flight per connection). Downloads are hashed with
// sha256 while streaming; nothing is buffered beyond one chunk except small bodies.
// Never logs the Authorization header.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';

/** Where a peer is reachable and how to authenticate; `baseUrl` ends with '/'. */
export interface Target {
  baseUrl: string;
  authorization: string;
}

export function basicAuth(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

export function createAgent(connections = 16): Agent {
  return new Agent({
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
}

export class BenchClient {
  constructor(
    private readonly target: Target,
    private readonly dispatcher: Dispatcher,
  ) {}

  url(path: string): string {
    return new URL(path.replace(/^\//, ''), this.target.baseUrl).toString();
  }

  private async call(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: Buffer | string | AsyncIterable<Buffer>,
  ): Promise<Dispatcher.ResponseData> {
    return request(this.url(path), {
      method: method as Dispatcher.HttpMethod,
      headers: { authorization: this.target.authorization, ...headers },
      body: body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : Readable.from(body, { objectMode: false }),
      dispatcher: this.dispatcher,
    });
  }

  private static fail(method: string, path: string, status: number, text: string): never {
    throw new Error(`${method} ${path} -> ${status} ${text.slice(0, 200).replace(/\s+/g, ' ')}`);
  }

  /** Sends a request, reads the body as text, throws unless the status is in `ok`. */
  async expect(method: string, path: string, ok: number[], headers?: Record<string, string>, body?: Buffer | string): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
    const res = await this.call(method, path, headers, body);
    const text = await res.body.text();
    if (!ok.includes(res.statusCode)) BenchClient.fail(method, path, res.statusCode, text);
    return { status: res.statusCode, text, headers: res.headers };
  }

  async mkcol(path: string): Promise<void> {
    await this.expect('MKCOL', path, [201, 405]);
  }

  async remove(path: string): Promise<void> {
    await this.expect('DELETE', path, [200, 204, 404]);
  }

  /** PUT a streamed body of known length; returns elapsed ms (until the response status is in). */
  async putStream(path: string, plainSize: number, body: AsyncIterable<Buffer>): Promise<number> {
    const t0 = performance.now();
    const res = await this.call('PUT', path, { 'content-type': 'application/octet-stream', 'content-length': String(plainSize) }, body);
    const text = await res.body.text();
    const ms = performance.now() - t0;
    if (res.statusCode !== 201 && res.statusCode !== 204 && res.statusCode !== 200) BenchClient.fail('PUT', path, res.statusCode, text);
    return ms;
  }

  async putSmall(path: string, body: Buffer): Promise<void> {
    const res = await this.call('PUT', path, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body);
    const text = await res.body.text();
    if (res.statusCode !== 201 && res.statusCode !== 204 && res.statusCode !== 200) BenchClient.fail('PUT', path, res.statusCode, text);
  }

  /** GET, hashing the body while it streams; returns elapsed ms, bytes and sha256 hex. */
  async getHashed(path: string, headers: Record<string, string> = {}): Promise<{ ms: number; bytes: number; sha256: string; status: number }> {
    const t0 = performance.now();
    const res = await this.call('GET', path, headers);
    if (res.statusCode !== 200 && res.statusCode !== 206) BenchClient.fail('GET', path, res.statusCode, await res.body.text());
    const h = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body) {
      h.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { ms: performance.now() - t0, bytes, sha256: h.digest('hex'), status: res.statusCode };
  }

  /** GET a byte range [start, end] inclusive; returns elapsed ms and the body (small ranges only). */
  async getRange(path: string, start: number, end: number): Promise<{ ms: number; body: Buffer; status: number; contentRange?: string }> {
    const t0 = performance.now();
    const res = await this.call('GET', path, { range: `bytes=${start}-${end}` });
    const body = Buffer.from(await res.body.arrayBuffer());
    const ms = performance.now() - t0;
    if (res.statusCode !== 206) BenchClient.fail('GET(range)', path, res.statusCode, body.toString('utf8'));
    const cr = res.headers['content-range'];
    return { ms, body, status: res.statusCode, contentRange: typeof cr === 'string' ? cr : undefined };
  }

  /** PROPFIND Depth 1 (allprop, empty body like rclone); returns elapsed ms and the number of <response> elements. */
  async propfind(path: string): Promise<{ ms: number; responses: number }> {
    const t0 = performance.now();
    const res = await this.call('PROPFIND', path, { depth: '1' });
    const text = await res.body.text();
    const ms = performance.now() - t0;
    if (res.statusCode !== 207) BenchClient.fail('PROPFIND', path, res.statusCode, text);
    const responses = (text.match(/<([A-Za-z0-9_-]+:)?response[\s>]/g) ?? []).length;
    return { ms, responses };
  }
}
