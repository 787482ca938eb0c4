// uploadViaTemp 'auto' (the default) against real servers: rclone serve webdav commits aborted
// PUTs, so the probe must choose temp uploads; Apache mod_dav_fs keeps the previous version, so
// it must choose direct PUTs (one request per write). Either way an aborted write keeps the
// previous content byte-exact and no probe file is left behind. Explicit true/false never probe.
// Skips with a printed reason when rclone or apache2 is missing.
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMP_PREFIX as LOCAL_TEMP_PREFIX } from '../../src/backends/layout.js';
import { WebdavBackend, type WebdavBackendOptions } from '../../src/backends/webdav.js';
import { isDavcryptError } from '../../src/errors.js';
import { backendConformance } from '../conformance/backend.js';
import { bodyOf, expectCode, readAll, slowBody } from '../conformance/helpers.js';
import { apacheAvailable, startApache, type ApacheServer } from '../helpers/apache.js';
import { rcloneAvailable, startRcloneServe, type RcloneServer } from '../helpers/rclone.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const noRclone = rcloneAvailable();
const noApache = apacheAvailable();
if (noRclone) console.warn(`[skip] webdav-upload-probe (rclone): ${noRclone}`);
if (noApache) console.warn(`[skip] webdav-upload-probe (apache): ${noApache}`);

const USER = 'probe';
const PASSWORD = 'probe secret';

/** A backend whose every request (method and decoded path) is recorded on the client side, and whose log lines are kept. */
function recordingBackend(url: string, extra: Partial<WebdavBackendOptions> = {}) {
  const requests: string[] = [];
  const logs: string[] = [];
  const agent = new Agent({ connections: 16 });
  const dispatcher = agent.compose((dispatch: Dispatcher['dispatch']) => (opts, handler) => {
    requests.push(`${opts.method} ${decodeURIComponent(opts.path)}`);
    return dispatch(opts, handler);
  });
  const backend = new WebdavBackend({
    url, username: USER, password: PASSWORD, dispatcher,
    logger: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) }, ...extra,
  });
  return {
    backend, requests, logs,
    async close() {
      await backend.close();
      await agent.close();
    },
  };
}

const probeRequests = (requests: string[]) => requests.filter((r) => r.includes(`${LOCAL_TEMP_PREFIX}probe-`));

async function rawNames(folder: string): Promise<string[]> {
  return (await readdir(folder)).sort();
}

/** Polls the real folder until it holds exactly `expected` (rclone may re-create a cut-off upload for a moment). */
async function expectRawEventually(folder: string, expected: string[]): Promise<void> {
  let got = await rawNames(folder);
  for (let i = 0; i < 60 && JSON.stringify(got) !== JSON.stringify(expected); i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = await rawNames(folder);
  }
  expect(got, `raw folder ${folder}`).toEqual(expected);
}

/** Both kinds of aborted upload (failing body, AbortSignal) must leave `previous` in place, byte for byte. */
async function expectAbortedWritesKeep(backend: WebdavBackend, path: string, previous: Buffer): Promise<void> {
  let caught: unknown;
  try {
    await backend.write(path, slowBody(50, 64 * 1024, undefined, 6), { size: 50 * 64 * 1024 });
  } catch (err) {
    caught = err;
  }
  expect(isDavcryptError(caught), `rejects with a DavcryptError: ${String(caught)}`).toBe(true);
  expect((await readAll((await backend.read(path)).body)).equals(previous), 'previous version after a failing body').toBe(true);

  const ac = new AbortController();
  const body = slowBody(400, 64 * 1024, (i) => { if (i === 8) ac.abort(); });
  await expectCode(backend.write(path, body, { size: 400 * 64 * 1024, signal: ac.signal }), 'DC_ERR_ABORTED');
  // rclone may still be finishing the cut-off request: look again after a moment.
  await new Promise((r) => setTimeout(r, 300));
  expect((await readAll((await backend.read(path)).body)).equals(previous), 'previous version after an AbortSignal').toBe(true);
}

describe.skipIf(noRclone !== undefined)('uploadViaTemp auto against rclone serve webdav', () => {
  // The whole backend suite with default options: the probe must pick temp uploads before the first write.
  backendConformance('webdav → rclone, uploadViaTemp auto', async () => {
    const confTmp = await makeTempDir('probe-rclone-conf');
    const confRoot = join(confTmp.path, 'share');
    const confServer = await startRcloneServe({ root: confRoot, user: USER, password: PASSWORD });
    const backend = new WebdavBackend({ url: confServer.url, username: USER, password: PASSWORD });
    return { backend, rawRoot: confRoot, exactSizes: true, cleanup: async () => { await confServer.stop(); await confTmp.cleanup(); } };
  });

  let tmp: TempDir;
  let root: string;
  let server: RcloneServer;
  beforeAll(async () => {
    tmp = await makeTempDir('probe-rclone');
    root = join(tmp.path, 'share');
    server = await startRcloneServe({ root, user: USER, password: PASSWORD });
  });
  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  it('decides temp on the first write, logs it once, and an aborted write keeps the previous content', async () => {
    const r = recordingBackend(server.url);
    try {
      await r.backend.mkdir('/docs');
      expect(r.backend.uploadProbeResult).toBeUndefined();
      const previous = randomBytes(300 * 1024);
      await r.backend.write('/docs/f.bin', bodyOf(previous), { size: previous.length });
      expect(r.backend.uploadProbeResult).toMatchObject({ mode: 'temp', conclusive: true, failed: false });
      expect(await r.backend.uploadMode()).toBe('temp');
      // The probe ran in the folder of that first write, and the write itself went via a temp name.
      expect(probeRequests(r.requests).every((q) => q.includes(`/docs/${LOCAL_TEMP_PREFIX}probe-`))).toBe(true);
      expect(r.requests.some((q) => q.startsWith(`MOVE /docs/${LOCAL_TEMP_PREFIX}`) && !q.includes('probe-'))).toBe(true);
      expect(r.logs.filter((l) => l.includes('aborted PUTs are committed by the server; uploading via temp name + MOVE'))).toHaveLength(1);
      expect(r.logs.join('\n')).not.toContain(PASSWORD);

      await expectAbortedWritesKeep(r.backend, '/docs/f.bin', previous);
      expect(probeRequests(r.requests).filter((q) => q.startsWith('PUT '))).toHaveLength(2); // measured once only
      expect((await r.backend.list('/docs')).map((e) => e.name)).toEqual(['f.bin']);
      await expectRawEventually(join(root, 'docs'), ['f.bin']);
      expect((await readFile(join(root, 'docs', 'f.bin'))).equals(previous)).toBe(true);
    } finally {
      await r.close();
    }
  });

  it('concurrent first writes share one probe', async () => {
    const r = recordingBackend(server.url);
    try {
      await r.backend.mkdir('/many');
      await Promise.all(Array.from({ length: 5 }, (_, i) => r.backend.write(`/many/f${i}`, bodyOf(`file ${i}`), { size: 6 })));
      const puts = probeRequests(r.requests).filter((q) => q.startsWith('PUT '));
      expect(puts).toHaveLength(2);
      expect(new Set(puts).size).toBe(1); // the complete and the cut-off PUT of one probe name
      expect(r.logs).toHaveLength(1);
      expect((await r.backend.list('/many')).map((e) => e.name).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
      await expectRawEventually(join(root, 'many'), ['f0', 'f1', 'f2', 'f3', 'f4']);
    } finally {
      await r.close();
    }
  });
});

describe.skipIf(noApache !== undefined)('uploadViaTemp auto against Apache mod_dav_fs', () => {
  let tmp: TempDir;
  let root: string;
  let server: ApacheServer;
  beforeAll(async () => {
    tmp = await makeTempDir('probe-apache');
    root = join(tmp.path, 'share');
    server = await startApache({ root, user: USER, password: PASSWORD });
  });
  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  /** Apache's own access log lines ("METHOD /path"), polled until `count` more than `before` exist. */
  async function accessLogSince(before: number, count: number): Promise<string[]> {
    let lines: string[] = [];
    for (let i = 0; i < 50; i++) {
      const text = await readFile(join(server.serverDir, 'access.log'), 'utf8').catch(() => '');
      lines = text.split('\n').filter((l) => l !== '').map((l) => /"(\S+) (\S+) HTTP/.exec(l)).map((m) => `${m![1]} ${decodeURIComponent(m![2]!)}`);
      if (lines.length >= before + count) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return lines.slice(before);
  }

  it('decides direct on the first write; later writes are one PUT; aborted writes keep the previous version', async () => {
    const r = recordingBackend(server.url);
    try {
      await r.backend.mkdir('/a');
      const previous = randomBytes(300 * 1024);
      await r.backend.write('/a/f.bin', bodyOf(previous), { size: previous.length });
      expect(r.backend.uploadProbeResult).toMatchObject({ mode: 'direct', conclusive: true, failed: false });
      expect(r.logs).toEqual([expect.stringContaining('PUT is atomic; direct uploads')]);
      expect(probeRequests(r.requests).every((q) => q.includes(`/a/${LOCAL_TEMP_PREFIX}probe-`))).toBe(true);

      // Apache writes a log line after its answer went out: let the lines of the writes above land first.
      await new Promise((res) => setTimeout(res, 300));
      const logBefore = (await accessLogSince(0, 0)).length;
      r.requests.length = 0;
      const next = randomBytes(100 * 1024);
      await r.backend.write('/a/g.bin', bodyOf(next), { size: next.length, etagOptional: true });
      expect(r.requests).toEqual(['PUT /a/g.bin']);
      expect(await accessLogSince(logBefore, 1)).toEqual(['PUT /a/g.bin']);
      expect((await readFile(join(root, 'a', 'g.bin'))).equals(next)).toBe(true);

      await expectAbortedWritesKeep(r.backend, '/a/f.bin', previous);
      expect(r.requests.some((q) => q.startsWith('MOVE '))).toBe(false);
      expect(probeRequests(r.requests)).toEqual([]);
      expect((await r.backend.list('/a')).map((e) => e.name).sort()).toEqual(['f.bin', 'g.bin']);
      await expectRawEventually(join(root, 'a'), ['f.bin', 'g.bin']);
    } finally {
      await r.close();
    }
  });

  it('a write whose signal fires while the probe runs is DC_ERR_ABORTED; the probe still decides', async () => {
    const r = recordingBackend(server.url);
    try {
      await r.backend.mkdir('/waiting');
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await expectCode(r.backend.write('/waiting/f', bodyOf('x'), { size: 1, signal: ac.signal }), 'DC_ERR_ABORTED');
      expect(await r.backend.uploadMode()).toBe('direct');
      expect(r.requests.filter((q) => q === 'PUT /waiting/f')).toEqual([]);
      expect(await rawNames(join(root, 'waiting'))).toEqual([]);
    } finally {
      await r.close();
    }
  });

  it('a first write into a missing folder decides nothing; the next write measures', async () => {
    const r = recordingBackend(server.url);
    try {
      await expectCode(r.backend.write('/missing/f', bodyOf('x'), { size: 1 }), 'DC_ERR_CONFLICT');
      expect(r.backend.uploadProbeResult).toMatchObject({ conclusive: false });
      expect(r.logs).toEqual([]);
      await r.backend.mkdir('/later');
      await r.backend.write('/later/f', bodyOf('x'), { size: 1 });
      expect(r.backend.uploadProbeResult).toMatchObject({ mode: 'direct', conclusive: true });
      expect(await rawNames(join(root, 'later'))).toEqual(['f']);
    } finally {
      await r.close();
    }
  });

  it('a probe that fails (here: times out) chooses temp uploads, warns once, and does not fail the write', async () => {
    const r = recordingBackend(server.url, { uploadProbe: { timeoutMs: 1 } });
    try {
      await r.backend.mkdir('/slow');
      await r.backend.write('/slow/f', bodyOf('kept'), { size: 4 });
      expect(r.backend.uploadProbeResult).toMatchObject({ mode: 'temp', failed: true, conclusive: true });
      expect(r.logs).toHaveLength(1);
      expect(r.logs[0]).toMatch(/^warn backend webdav:http:\/\/127\.0\.0\.1:\d+\/: upload probe failed: .*uploading via temp name \+ MOVE to be safe$/);
      expect(r.logs[0]).not.toContain(PASSWORD);
      expect(r.requests.some((q) => q.startsWith(`MOVE /slow/${LOCAL_TEMP_PREFIX}`))).toBe(true);
      expect((await readAll((await r.backend.read('/slow/f')).body)).toString()).toBe('kept');
      await expectRawEventually(join(root, 'slow'), ['f']);
    } finally {
      await r.close();
    }
  });

  it('explicit uploadViaTemp true / false never probe', async () => {
    for (const uploadViaTemp of [true, false]) {
      const r = recordingBackend(server.url, { uploadViaTemp });
      try {
        const dir = `/explicit-${uploadViaTemp}`;
        await r.backend.mkdir(dir);
        expect(await r.backend.uploadMode()).toBe(uploadViaTemp ? 'temp' : 'direct');
        await r.backend.write(`${dir}/f`, bodyOf('abc'), { size: 3, etagOptional: true });
        await r.backend.write(`${dir}/f`, bodyOf('def'), { size: 3, etagOptional: true });
        expect(probeRequests(r.requests)).toEqual([]);
        expect(r.backend.uploadProbeResult).toBeUndefined();
        expect(r.logs).toEqual([]);
        const puts = r.requests.filter((q) => q.startsWith('PUT '));
        expect(puts.every((q) => q.startsWith(uploadViaTemp ? `PUT ${dir}/${LOCAL_TEMP_PREFIX}` : `PUT ${dir}/f`))).toBe(true);
        expect(r.requests.some((q) => q.startsWith('MOVE '))).toBe(uploadViaTemp);
        expect(await rawNames(join(root, dir))).toEqual(['f']);
      } finally {
        await r.close();
      }
    }
  });
});
