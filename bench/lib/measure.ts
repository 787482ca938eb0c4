// Runs every selected metric against one peer (a WebDAV URL + credentials):
// large PUT/GET throughput, 4 KiB range GET latency, sequential small PUTs,
// PROPFIND Depth 1, 8-connection small-GET throughput, and the peer's peak RSS.
// Every download is checked by sha256 (or byte-compared for ranges). Works only
// inside `<baseUrl>/bench/`, which it creates and deletes.
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { BenchClient, type Target } from './client.js';
import { rangeOffsetBytes, type BenchOptions, type MetricId } from './options.js';
import { sha256Hex, type Payload } from './payload.js';
import { curlTransfer } from './curl.js';
import { readMemory, sampleRss, treeCpuSeconds } from './procs.js';
import { undiciSmallGet, wrkSmallGet } from './smallget.js';
import { median } from './stats.js';

export interface PeerUnderTest {
  id: string;
  label: string;
  target: Target;
  /** Server process whose tree (it and its children: workers) is sampled for CPU and RSS, if any. */
  pid?: number;
}

/** How the large PUT/GET are timed: curl with the body from `payloadFile` (sizeMiB of Payload), else undici. */
export interface Transfer {
  curlPayloadFile?: string;
}

export interface MetricResult {
  /** The reported number (median of samples), in `unit`. */
  value: number;
  unit: string;
  samples: number[];
  /** Extra facts (sizes, counts, tool used). */
  detail?: Record<string, unknown>;
}

/** A measured phase on the CLOCK_MONOTONIC time line (µs), to cut a server's CPU profile by phase. */
export interface Phase {
  name: string;
  startUs: number;
  endUs: number;
}

export type PeerResults = Partial<Record<MetricId, MetricResult>> & { errors?: Record<string, string>; phases?: Phase[] };

/** CLOCK_MONOTONIC in µs: the clock V8 stamps .cpuprofile samples with, shared by all processes. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const MiB = 1024 * 1024;

export type Log = (line: string) => void;

/** Measures `peer`; a failing metric is recorded in `errors` and the rest still run. Integrity failures throw inside a metric and end up there too. */
export async function measurePeer(peer: PeerUnderTest, opts: BenchOptions, payload: Payload, dispatcher: Dispatcher, useWrk: boolean, log: Log, transfer: Transfer = {}): Promise<PeerResults> {
  const c = new BenchClient(peer.target, dispatcher);
  const results: PeerResults = {};
  const errors: Record<string, string> = {};
  const want = (m: MetricId): boolean => opts.only.has(m);
  const plainSize = opts.sizeMiB * MiB;
  const big = 'bench/big.bin';
  const bigSha = await payload.sha256(plainSize);

  const phases: Phase[] = [];
  /** Runs fn and returns the server CPU seconds it cost (undefined without a pid). */
  const cpuOf = async <T>(fn: () => Promise<T>): Promise<{ value: T; cpuS?: number }> => {
    const before = peer.pid ? treeCpuSeconds(peer.pid) : undefined;
    const value = await fn();
    const after = peer.pid ? treeCpuSeconds(peer.pid) : undefined;
    return { value, cpuS: before !== undefined && after !== undefined ? after - before : undefined };
  };
  const perOp = (cpuS: number | undefined, ops: number): number | undefined => (cpuS === undefined ? undefined : (cpuS * 1000) / ops);
  const cpuNote = (ms: number | undefined, unit = 'ms CPU/op'): string => (ms === undefined ? '' : `, server ${ms.toFixed(2)} ${unit}`);
  const attempt = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const startUs = monotonicUs();
    try {
      await fn();
      phases.push({ name, startUs, endUs: monotonicUs() });
    } catch (err) {
      errors[name] = (err as Error).message;
      log(`  ${peer.label}: ${name} FAILED: ${(err as Error).message}`);
    }
  };

  /** PUT + verified GET of `size` bytes at `path`; returns both times in ms. */
  const roundTrip = async (path: string, size: number, sha: string): Promise<{ putMs: number; getMs: number; putCpuS?: number; getCpuS?: number }> => {
    await c.remove(path);
    if (transfer.curlPayloadFile && size === plainSize) {
      // curl times both directions; the body is checked by one untimed hashed GET after the reps (verifyBig).
      const url = c.url(path);
      const put = await cpuOf(() => curlTransfer(url, peer.target.authorization, transfer.curlPayloadFile));
      if (put.value.status < 200 || put.value.status > 204 || put.value.bytes !== size) throw new Error(`curl PUT ${path} -> ${put.value.status}, ${put.value.bytes} bytes sent`);
      const get = await cpuOf(() => curlTransfer(url, peer.target.authorization));
      if (get.value.status !== 200 || get.value.bytes !== size) throw new Error(`curl GET ${path} -> ${get.value.status}, ${get.value.bytes} bytes, expected ${size}`);
      return { putMs: put.value.ms, getMs: get.value.ms, putCpuS: put.cpuS, getCpuS: get.cpuS };
    }
    const put = await cpuOf(() => c.putStream(path, size, payload.stream(size)));
    const get = await cpuOf(() => c.getHashed(path));
    const got = get.value;
    if (got.bytes !== size || got.sha256 !== sha) {
      throw new Error(`integrity: GET ${path} returned ${got.bytes} bytes sha256 ${got.sha256.slice(0, 16)}…, expected ${size} bytes ${sha.slice(0, 16)}…`);
    }
    return { putMs: put.value, getMs: got.ms, putCpuS: put.cpuS, getCpuS: get.cpuS };
  };

  await c.remove('bench');
  await c.mkcol('bench');

  const rssDetail: Record<string, number> = {};
  const idle = peer.pid ? readMemory(peer.pid) : undefined;
  if (idle) log(`  ${peer.label}: RSS at start ${(idle.rssBytes / MiB).toFixed(1)} MiB (high-water mark so far ${(idle.hwmBytes / MiB).toFixed(1)} MiB)`);
  if (want('rss') && peer.pid && opts.rssSmallMiB < opts.sizeMiB) {
    await attempt('rss', async () => {
      const size = opts.rssSmallMiB * MiB;
      const sampler = sampleRss(peer.pid!);
      await roundTrip('bench/rss-small.bin', size, await payload.sha256(size));
      rssDetail[`peakMiB_${opts.rssSmallMiB}MiB`] = sampler.stop() / MiB;
      await c.remove('bench/rss-small.bin');
      log(`  ${peer.label}: peak RSS during ${opts.rssSmallMiB} MiB PUT+GET ${rssDetail[`peakMiB_${opts.rssSmallMiB}MiB`]!.toFixed(1)} MiB`);
    });
  }

  let bigPresent = false;
  if (want('put') || want('get') || want('rss')) {
    await attempt('put/get', async () => {
      const sampler = peer.pid ? sampleRss(peer.pid) : undefined;
      const putMBs: number[] = [];
      const getMBs: number[] = [];
      const putCpu: number[] = [];
      const getCpu: number[] = [];
      const GiB = 1024 * MiB;
      for (let r = 0; r < opts.reps; r++) {
        const { putMs, getMs, putCpuS, getCpuS } = await roundTrip(big, plainSize, bigSha);
        bigPresent = true;
        putMBs.push(plainSize / 1e6 / (putMs / 1000));
        getMBs.push(plainSize / 1e6 / (getMs / 1000));
        if (putCpuS !== undefined) putCpu.push(putCpuS / (plainSize / GiB));
        if (getCpuS !== undefined) getCpu.push(getCpuS / (plainSize / GiB));
        log(`  ${peer.label}: ${opts.sizeMiB} MiB PUT ${putMBs.at(-1)!.toFixed(0)} MB/s${cpuNote(putCpu.at(-1), 'CPU s/GiB')}, ` +
          `GET ${getMBs.at(-1)!.toFixed(0)} MB/s${cpuNote(getCpu.at(-1), 'CPU s/GiB')}${transfer.curlPayloadFile ? ' (curl)' : ' (sha256 ok)'}`);
      }
      const cpuDetail = (xs: number[]) => (xs.length ? { serverCpuSecPerGiB: median(xs) } : {});
      if (transfer.curlPayloadFile) {
        const got = await c.getHashed(big); // untimed: the bytes curl moved were the right ones
        if (got.bytes !== plainSize || got.sha256 !== bigSha) throw new Error(`integrity: GET ${big} returned ${got.bytes} bytes sha256 ${got.sha256.slice(0, 16)}…, expected ${bigSha.slice(0, 16)}…`);
        log(`  ${peer.label}: ${opts.sizeMiB} MiB body checked (sha256 ok)`);
      }
      const client = transfer.curlPayloadFile ? 'curl' : 'undici';
      if (want('put')) results.put = { value: median(putMBs), unit: 'MB/s', samples: putMBs, detail: { sizeMiB: opts.sizeMiB, client, ...cpuDetail(putCpu) } };
      if (want('get')) results.get = { value: median(getMBs), unit: 'MB/s', samples: getMBs, detail: { sizeMiB: opts.sizeMiB, client, ...cpuDetail(getCpu) } };
      if (sampler) {
        const peak = sampler.stop() / MiB;
        rssDetail[`peakMiB_${opts.sizeMiB}MiB`] = peak;
        if (want('rss')) {
          const values = Object.values(rssDetail);
          results.rss = { value: Math.max(...values), unit: 'MiB', samples: values, detail: { ...rssDetail, idleMiB: idle ? idle.rssBytes / MiB : undefined } };
        }
        log(`  ${peer.label}: peak RSS during ${opts.sizeMiB} MiB PUT+GET ${peak.toFixed(1)} MiB`);
      }
    });
  }

  if (want('range')) {
    if (!bigPresent) await attempt('range setup', async () => { await c.putStream(big, plainSize, payload.stream(plainSize)); });
    await attempt('range', async () => {
      const start = rangeOffsetBytes(opts.sizeMiB);
      const end = start + 4095;
      const expected = payload.bytesAt(start, 4096);
      const samples: number[] = [];
      const one = async (): Promise<number> => {
        const got = await c.getRange(big, start, end);
        if (!got.body.equals(expected)) throw new Error(`integrity: range ${start}-${end} returned ${got.body.length} wrong bytes`);
        if (got.contentRange && !got.contentRange.startsWith(`bytes ${start}-${end}/`)) throw new Error(`bad Content-Range ${got.contentRange}`);
        return got.ms;
      };
      await one(); // warms caches (header, connection); not counted
      const { cpuS } = await cpuOf(async () => { for (let i = 0; i < opts.rangeRequests; i++) samples.push(await one()); });
      const cpuMs = perOp(cpuS, opts.rangeRequests);
      results.range = { value: median(samples), unit: 'ms', samples, detail: { offset: start, length: 4096, serverCpuMsPerOp: cpuMs } };
      log(`  ${peer.label}: range GET at ${(start / MiB).toFixed(0)} MiB median ${median(samples).toFixed(2)} ms${cpuNote(cpuMs)} (bytes ok)`);
    });
  }
  await attempt('cleanup big', () => c.remove(big));

  const smallBodies = Array.from({ length: opts.smallCount }, () => randomBytes(1024));
  const name = (i: number): string => `f${String(i).padStart(5, '0')}.bin`;
  let smallDir: string | undefined;
  let smallPutCpuMs: number | undefined;
  const fillSmall = async (dir: string): Promise<number> => {
    await c.remove(dir);
    await c.mkcol(dir);
    const t0 = performance.now();
    const { cpuS } = await cpuOf(async () => { for (let i = 0; i < smallBodies.length; i++) await c.putSmall(`${dir}/${name(i)}`, smallBodies[i]!); });
    smallPutCpuMs = perOp(cpuS, smallBodies.length);
    return (performance.now() - t0) / 1000;
  };
  if (want('smallput')) {
    await attempt('smallput', async () => {
      const samples: number[] = [];
      for (let r = 0; r < opts.smallReps; r++) {
        if (smallDir) await c.remove(smallDir);
        smallDir = `bench/small${r}`;
        samples.push(await fillSmall(smallDir));
        log(`  ${peer.label}: ${opts.smallCount} sequential 1 KiB PUTs ${samples.at(-1)!.toFixed(2)} s${cpuNote(smallPutCpuMs)}`);
      }
      results.smallput = { value: median(samples), unit: 's', samples, detail: { files: opts.smallCount, bytesEach: 1024, serverCpuMsPerOp: smallPutCpuMs } };
    });
  }
  if ((want('propfind') || want('smallget')) && !smallDir) {
    await attempt('small files setup', async () => { smallDir = 'bench/small0'; await fillSmall(smallDir); });
  }

  if (want('propfind') && smallDir) {
    await attempt('propfind', async () => {
      const samples: number[] = [];
      const one = async (): Promise<number> => {
        const got = await c.propfind(`${smallDir}/`);
        if (got.responses !== opts.smallCount + 1) throw new Error(`PROPFIND listed ${got.responses - 1} entries, expected ${opts.smallCount}`);
        return got.ms;
      };
      await one(); // not counted
      const { cpuS } = await cpuOf(async () => { for (let i = 0; i < opts.propfindRequests; i++) samples.push(await one()); });
      const cpuMs = perOp(cpuS, opts.propfindRequests);
      results.propfind = { value: median(samples), unit: 'ms', samples, detail: { files: opts.smallCount, serverCpuMsPerOp: cpuMs } };
      log(`  ${peer.label}: PROPFIND Depth 1 on ${opts.smallCount} files median ${median(samples).toFixed(2)} ms${cpuNote(cpuMs)}`);
    });
  }

  if (want('smallget') && smallDir) {
    await attempt('smallget', async () => {
      const path = `${smallDir}/${name(0)}`;
      const check = async (): Promise<void> => {
        const got = await c.getHashed(path);
        if (got.sha256 !== sha256Hex(smallBodies[0]!)) throw new Error(`integrity: GET ${path} returned wrong bytes`);
      };
      await check();
      const samples: number[] = [];
      const cpuMsPerOp: number[] = [];
      let failed = 0;
      let tool = '';
      for (let r = 0; r < opts.reps; r++) {
        const run = useWrk ? wrkSmallGet : undiciSmallGet;
        const { value: res, cpuS } = await cpuOf(() => run(c.url(path), peer.target.authorization, opts.smallGetConnections, opts.smallGetSeconds));
        samples.push(res.requestsPerSec);
        const cpuMs = perOp(cpuS, res.requests);
        if (cpuMs !== undefined) cpuMsPerOp.push(cpuMs);
        failed += res.failed;
        tool = res.tool;
        log(`  ${peer.label}: small GET x${opts.smallGetConnections} conns ${res.requestsPerSec.toFixed(0)} req/s${cpuNote(cpuMs)} (${res.tool}, ${res.failed} failed)`);
      }
      await check();
      if (failed > 0) throw new Error(`${failed} small GETs failed (non-200 or socket errors)`);
      results.smallget = {
        value: median(samples), unit: 'req/s', samples,
        detail: { connections: opts.smallGetConnections, seconds: opts.smallGetSeconds, tool, serverCpuMsPerOp: cpuMsPerOp.length ? median(cpuMsPerOp) : undefined },
      };
    });
  }

  await attempt('cleanup', () => c.remove('bench'));
  if (Object.keys(errors).length) results.errors = errors;
  results.phases = phases.filter((p) => !p.name.startsWith('cleanup'));
  return results;
}
