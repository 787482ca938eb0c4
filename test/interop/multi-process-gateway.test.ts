// `davcrypt serve` with server.workers = 2 on one sqlite store, and on one Redis store
// (src/cli/serve-cluster.ts): the
// initial admin is created once; two workers racing on a user's first login create one mount
// key; 40 LOCKs on fresh connections (spread over both workers by the primary) give exactly one
// lock; failed logins spread over both workers lock out after maxFailures; Nextcloud folder
// ETags are the same in both workers and move for a change made through either; a login flow
// v2 started in one is granted and polled in the other; /metrics counts both workers' requests
// whichever one the scrape reaches; a killed worker is replaced and the gateway keeps
// answering; SIGTERM stops them all; litmus (basic, locks, props) runs through the two
// processes. Real processes on 127.0.0.1.
// The litmus part skips with a reason when litmus is missing, the Redis run when redis-server is.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAVCRYPT_BIN, runDavcrypt } from '../helpers/cli.js';
import { litmusUnavailable, runLitmusSuite } from '../helpers/litmus.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';
import { freePort, stopChild, waitForHttp } from '../helpers/server-process.js';

const litmusReason = litmusUnavailable();
if (litmusReason) console.log(`multi-process-gateway: litmus part skipped: ${litmusReason}`);
if (redisSkipReason) console.log(`multi-process-gateway: Redis run skipped: ${redisSkipReason}`);

const ALICE = 'alice-password-1';
const ADMIN = 'admin-password-1';
const LOCK_BODY = '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner><D:href>multi-process-test</D:href></D:owner></D:lockinfo>';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

for (const storeKind of ['sqlite', 'redis'] as const) describe.skipIf(storeKind === 'redis' && redisSkipReason !== undefined)(`davcrypt serve with two worker processes on one ${storeKind} store`, () => {
  let dir: string;
  let redis: TestRedis | undefined;
  let child: ChildProcess;
  let url: string;
  let metricsUrl: string;
  let output = '';
  const workerPids = () => [...output.matchAll(/"message":"gateway worker started","pid":(\d+)/g)].map((m) => Number(m[1]));

  /** One request on a connection of its own: the primary hands each new connection to the next worker. */
  async function fresh(method: string, path: string, headers: Record<string, string> = {}, body?: string, user = 'alice', pw = ALICE) {
    const agent = new Agent({ connections: 1, pipelining: 1 });
    try {
      const res = await request(new URL(path, url), { method: method as 'GET', headers: { authorization: auth(user, pw), ...headers }, body, dispatcher: agent });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    } finally {
      await agent.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'davcrypt-multiproc-'));
    const port = await freePort();
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const config = join(dir, 'c.yaml');
    if (storeKind === 'redis') redis = await startRedis();
    await writeFile(config, stringify({
      server: { host: '127.0.0.1', port, workers: 2, metrics: { host: '127.0.0.1', port: metricsPort } },
      auth: { throttle: { maxFailures: 3, windowSeconds: 60, baseDelaySeconds: 60, maxDelaySeconds: 60 } },
      dataDir: join(dir, 'data'),
      ...(redis ? { store: redis.url } : {}),
      keys: { argon2: { m: 8192, t: 1, p: 1 } },
      mounts: [{ path: '/', encrypt: true, backend: { type: 'local', root: join(dir, 'store', '{user}') } }],
    }));
    const env = { ...process.env, DAVCRYPT_ADMIN_PASSWORD: ADMIN, DAVCRYPT_WORKERS: undefined };
    child = spawn(process.execPath, [DAVCRYPT_BIN, 'serve', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => { output += String(d); });
    child.stderr!.on('data', (d) => { output += String(d); });
    url = `http://127.0.0.1:${port}/`;
    await waitForHttp(port, child, 60_000, () => output);
    for (let i = 0; i < 300 && !/2 worker processes .* listening/.test(output); i++) await sleep(100);
    expect(output).toMatch(/2 worker processes \(server\.workers\) listening on/);
    // A user added from the CLI while the gateway runs (the CLI shares the sqlite file).
    const add = await runDavcrypt(['user', 'add', 'alice', '--config', config], `${ALICE}\n${ALICE}\n`);
    expect(add.code, add.stderr).toBe(0);
  });

  afterAll(async () => {
    if (child) await stopChild(child, 15_000);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('forks two workers and creates the initial admin exactly once', async () => {
    expect(new Set(workerPids()).size).toBe(2);
    expect(output.match(/created user admin/g)).toHaveLength(1);
    expect(output.match(/"message":"user added"[^\n]*"user":"admin"/g)).toHaveLength(1);
    for (let i = 0; i < 4; i++) expect((await fresh('PROPFIND', '/', { depth: '0' }, undefined, 'admin', ADMIN)).status).toBe(207);
  });

  it('two workers racing on a first login create one mount key, and either reads what the other wrote', async () => {
    const logins = await Promise.all(Array.from({ length: 12 }, () => fresh('PROPFIND', '/', { depth: '0' })));
    expect(logins.map((r) => r.status)).toEqual(Array(12).fill(207));
    await sleep(300); // the batched log flushes every 100 ms
    expect(output.match(/"message":"mount key created"[^\n]*user:alice/g)).toHaveLength(1);
    const keyring = JSON.parse(await readFile(join(dir, 'store', 'alice', '.davcrypt', 'keyring.json'), 'utf8')) as { keys: unknown[] };
    expect(keyring.keys).toHaveLength(1);
    expect((await fresh('PUT', '/hello.txt', {}, 'written by one worker')).status).toBe(201);
    const reads = await Promise.all(Array.from({ length: 6 }, () => fresh('GET', '/hello.txt')));
    expect(reads.map((r) => r.text)).toEqual(Array(6).fill('written by one worker'));
  });

  it('40 concurrent LOCKs over both workers: exactly one wins; the lock holds in both', async () => {
    expect((await fresh('PUT', '/race.txt', {}, 'r')).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 40 }, () =>
      fresh('LOCK', '/race.txt', { depth: '0', timeout: 'Second-600', 'content-type': 'text/xml; charset="utf-8"' }, LOCK_BODY)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 423)).toHaveLength(39);
    const token = String(results.find((r) => r.status === 200)!.headers['lock-token']).replace(/^<|>$/g, '');
    for (let i = 0; i < 4; i++) expect((await fresh('PUT', '/race.txt', {}, 'no token')).status).toBe(423);
    expect((await fresh('UNLOCK', '/race.txt', { 'lock-token': `<${token}>` })).status).toBe(204);
    for (let i = 0; i < 4; i++) expect((await fresh('PUT', '/race.txt', {}, `free ${i}`)).status).toBe(204);
  });

  it('failed logins spread over both workers lock out after maxFailures (3): the throttle is shared', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fresh('PROPFIND', '/', { depth: '0' }, undefined, 'mallory', `guess-${i}`)).status);
    // Per process, each worker would allow 3 before refusing: 401 six times.
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    const refused = await fresh('PROPFIND', '/', { depth: '0' }, undefined, 'mallory', 'guess-7');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(50);
  });

  it('Nextcloud folder ETags: the same in both workers, and a plain WebDAV change through either moves them in both', async () => {
    const OC = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>';
    const etags = async () => {
      const seen = await Promise.all(Array.from({ length: 6 }, () => fresh('PROPFIND', '/remote.php/dav/files/alice/', { depth: '0' }, OC)));
      return new Set(seen.map((r) => /<D:getetag>([^<]*)<\/D:getetag>/.exec(r.text)?.[1]));
    };
    await sleep(600); // changes of the tests before are published
    const before = await etags();
    expect(before.size).toBe(1); // per process, each worker would serve its own
    expect([...before][0]).toBeTruthy();
    expect((await fresh('PUT', '/etag-moves.txt', {}, 'changed by one worker')).status).toBe(201);
    await sleep(600); // plain WebDAV changes are published within 250 ms
    const after = await etags();
    expect(after.size).toBe(1);
    expect([...after][0]).not.toBe([...before][0]);
  });

  it('Nextcloud login flow v2 started in one worker is shown, granted and polled (once) through the others', async () => {
    const start = await fresh('POST', '/index.php/login/v2', { 'user-agent': 'multi-process test app' });
    expect(start.status).toBe(200);
    const flow = JSON.parse(start.text) as { poll: { token: string; endpoint: string }; login: string };
    const loginPath = new URL(flow.login).pathname;
    const pages = await Promise.all(Array.from({ length: 4 }, () => fresh('GET', loginPath)));
    expect(pages.map((p) => p.status)).toEqual([200, 200, 200, 200]);
    expect(pages[0]!.text).toContain('multi-process test app');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await fresh('POST', loginPath, form, new URLSearchParams({ user: 'alice', password: ALICE }).toString())).status).toBe(200);
    const polls = await Promise.all(Array.from({ length: 4 }, () => fresh('POST', '/index.php/login/v2/poll', form, `token=${flow.poll.token}`)));
    expect(polls.map((p) => p.status).sort()).toEqual([200, 404, 404, 404]); // handed out once, whichever worker asks
    const granted = JSON.parse(polls.find((p) => p.status === 200)!.text) as { loginName: string; appPassword: string };
    expect(granted).toMatchObject({ loginName: 'alice', appPassword: ALICE });
  });

  it('/metrics reports the requests of both workers, whichever worker the scrape reaches', async () => {
    const scrape = async () => {
      const r = await fresh('GET', metricsUrl);
      expect(r.status).toBe(200);
      return Number(/^davcrypt_http_requests_total\{method="OPTIONS",status_class="2xx"\} (\d+)/m.exec(r.text)?.[1] ?? 0);
    };
    const before = await scrape();
    for (let i = 0; i < 10; i++) expect((await fresh('OPTIONS', '/')).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 4 }, () => scrape()));
    expect(after).toEqual(Array(4).fill(before + 10)); // per worker, each would count about 5
    const text = (await fresh('GET', metricsUrl)).text;
    expect(text.match(/^davcrypt_build_info\{/gm)).toHaveLength(1);
    expect(text).toMatch(/^davcrypt_ready 1$/m);
  });

  it.skipIf(litmusReason !== undefined)('litmus basic, locks and props pass through the two workers', async () => {
    for (const suite of ['basic', 'locks', 'props']) {
      const r = await runLitmusSuite(suite, url, 'alice', ALICE);
      console.log(`litmus ${suite} (2 workers): ${r.passed}/${r.run} passed, ${r.failed} failed, ${r.warnings} warnings`);
      expect(r.run, r.output).toBeGreaterThan(0);
      expect(r.failed, r.failures.join('\n') || r.output).toBe(0);
    }
  });

  it('a killed worker is replaced and the gateway keeps answering; SIGTERM stops every process', async () => {
    const [victim, other] = workerPids();
    process.kill(victim!, 'SIGKILL');
    for (let i = 0; i < 300 && workerPids().length < 3; i++) await sleep(100);
    const pids = workerPids();
    expect(pids).toHaveLength(3);
    expect(output).toMatch(/gateway worker exited; starting a new one/);
    const replacement = pids[2]!;
    const listening = () => output.match(/^davcrypt listening on /gm)?.length ?? 0;
    for (let i = 0; i < 300 && listening() < 3; i++) await sleep(100);
    expect(listening()).toBe(3);
    for (let i = 0; i < 6; i++) expect((await fresh('GET', '/hello.txt')).text).toBe('written by one worker');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    for (let i = 0; i < 50 && (alive(other!) || alive(replacement)); i++) await sleep(100);
    expect(alive(other!)).toBe(false);
    expect(alive(replacement)).toBe(false);
  });
});
