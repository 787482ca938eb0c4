// Turns per-peer results into the issue-15 table (metric | Apache direct | nginx proxy |
// davcrypt 1 worker | davcrypt N workers | rclone crypt | ratios to nginx | target | met?)
// and the JSON record, with the machine it ran on. No measuring here.
import { execSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import type { BenchOptions, MetricId, PeerId } from './options.js';
import { rangeOffsetBytes } from './options.js';
import type { PeerResults } from './measure.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  kernel: string;
  memTotalMiB: number;
  apache?: string;
  nginx?: string;
  rclone?: string;
  wrk?: string;
  curl?: string;
  storage: string;
  /** 1-minute load average before and after the run: other work on the machine skews every number. */
  loadAvgStart?: number;
  loadAvgEnd?: number;
  /** sha256 speed of the bench process: an upper bound for every verified GET. */
  clientSha256MBs?: number;
}

export function describeMachine(storage: string, versions: { apache?: string; nginx?: string; rclone?: string; wrk?: string; curl?: string }, loadAvgStart?: number): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let memTotalMiB = 0;
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
    memTotalMiB = Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024);
  } catch { /* not Linux */ }
  let nproc = cpus().length;
  try { nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim()) || nproc; } catch { /* keep os.cpus */ }
  let kernel = '';
  try { kernel = execSync('uname -r', { encoding: 'utf8' }).trim(); } catch { /* optional */ }
  return { nproc, cpuModel, node: process.version, kernel, memTotalMiB, ...versions, storage, loadAvgStart, loadAvgEnd: loadavg()[0] };
}

interface Target {
  /** Describes the target in the table. */
  text: string;
  /** What the judged davcrypt number is compared with: itself, or its ratio to the nginx proxy. */
  on: 'value' | 'ratio';
  cmp: '>=' | '<=';
  bound: number;
  /** Also at least rclone crypt's value (GET). */
  atLeastRclone?: boolean;
}

export function metricLabel(m: MetricId, o: BenchOptions): string {
  switch (m) {
    case 'get': return `GET ${o.sizeMiB} MiB (MB/s)`;
    case 'put': return `PUT ${o.sizeMiB} MiB (MB/s)`;
    case 'range': return `4 KiB range GET @ ${Math.round(rangeOffsetBytes(o.sizeMiB) / 1048576)} MiB, median (ms)`;
    case 'smallput': return `${o.smallCount} small PUTs, sequential (s)`;
    case 'propfind': return `PROPFIND Depth 1, ${o.smallCount} files, median (ms)`;
    case 'smallget': return `small GET, ${o.smallGetConnections} conns (req/s)`;
    case 'rss': return `peak RSS per process, PUT+GET ${o.rssSmallMiB < o.sizeMiB ? `${o.rssSmallMiB} and ` : ''}${o.sizeMiB} MiB (MiB)`;
  }
}

/** Issue 15's targets: ratios to the nginx proxy in the same run (range and RSS absolute). */
export const TARGETS: Record<MetricId, Target> = {
  get: { text: '>= 0.8x nginx and >= rclone', on: 'ratio', cmp: '>=', bound: 0.8, atLeastRclone: true },
  put: { text: '>= 0.8x nginx', on: 'ratio', cmp: '>=', bound: 0.8 },
  range: { text: '<= 1 ms', on: 'value', cmp: '<=', bound: 1 },
  smallput: { text: '<= 3x nginx', on: 'ratio', cmp: '<=', bound: 3 },
  propfind: { text: '<= 1.5x nginx', on: 'ratio', cmp: '<=', bound: 1.5 },
  smallget: { text: '>= 0.5x nginx', on: 'ratio', cmp: '>=', bound: 0.5 },
  rss: { text: '<= 100 MiB', on: 'value', cmp: '<=', bound: 100 },
};

export interface Row {
  metric: MetricId;
  label: string;
  values: Partial<Record<PeerId, number>>;
  /** davcrypt (1 worker) / nginx and davcrypt (N workers) / nginx. */
  ratio1?: number;
  ratioN?: number;
  target: string;
  /** Judged on the better of the two davcrypt peers (N workers is the default). */
  met?: boolean;
}

export type AllResults = Partial<Record<PeerId, PeerResults>>;

export const PEER_LABELS: Record<PeerId, string> = {
  apache: 'Apache direct', nginx: 'nginx proxy', nodeproxy: 'Node bare proxy', davcrypt: 'davcrypt 1 worker', davcryptN: 'davcrypt N workers', rclone: 'rclone crypt',
};

function judge(t: Target, value: number | undefined, nginx: number | undefined, rclone: number | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const judged = t.on === 'ratio' ? (nginx ? value / nginx : undefined) : value;
  if (judged === undefined) return undefined;
  const ok = t.cmp === '>=' ? judged >= t.bound : judged <= t.bound;
  return ok && (!t.atLeastRclone || rclone === undefined || value >= rclone);
}

export function buildRows(results: AllResults, o: BenchOptions): Row[] {
  const rows: Row[] = [];
  for (const m of Object.keys(TARGETS) as MetricId[]) {
    if (!o.only.has(m)) continue;
    const t = TARGETS[m];
    const values: Row['values'] = {};
    for (const p of Object.keys(PEER_LABELS) as PeerId[]) {
      const v = results[p]?.[m]?.value;
      if (v !== undefined) values[p] = v;
    }
    // RSS is judged per process, not against nginx's (a C proxy of a few MiB).
    const ratio = (v: number | undefined) => (m !== 'rss' && v !== undefined && values.nginx ? v / values.nginx : undefined);
    const verdicts = [values.davcrypt, values.davcryptN].map((v) => judge(t, v, values.nginx, values.rclone)).filter((x) => x !== undefined);
    rows.push({
      metric: m, label: metricLabel(m, o), values, ratio1: ratio(values.davcrypt), ratioN: ratio(values.davcryptN),
      target: t.text, met: verdicts.length ? verdicts.some(Boolean) : undefined,
    });
  }
  return rows;
}

function fmt(v: number | undefined, missing: string): string {
  if (v === undefined) return missing;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function markdown(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** Markdown table (also readable on a terminal). `missing` says what to print for a peer with no value. */
export function renderTable(rows: Row[], missing: Partial<Record<PeerId, string>>, workers: number): string {
  const peers = Object.keys(PEER_LABELS) as PeerId[];
  const header = ['metric', ...peers.map((p) => (p === 'davcryptN' ? `davcrypt ${workers} workers` : PEER_LABELS[p])), 'dc 1w / nginx', `dc ${workers}w / nginx`, 'target', 'met?'];
  const body = rows.map((r) => [
    r.label,
    ...peers.map((p) => fmt(r.values[p], missing[p] ?? '—')),
    r.ratio1 === undefined ? '—' : r.ratio1.toFixed(2),
    r.ratioN === undefined ? '—' : r.ratioN.toFixed(2),
    r.target,
    r.met === undefined ? '—' : r.met ? 'yes' : 'NO',
  ]);
  return markdown(header, body);
}

/**
 * Server CPU per operation (utime+stime from /proc/<pid>/stat of each server's processes: a
 * cluster primary and its workers, nginx's master and workers, Apache's). Depends less on what
 * else runs on the machine than the timings, so it is the better number to compare across runs.
 * A proxy's own CPU: Apache's work behind it is in the Apache column.
 */
export function renderCpuTable(results: AllResults, o: BenchOptions, workers: number): string {
  const peers = Object.keys(PEER_LABELS) as PeerId[];
  const rows: string[][] = [];
  const add = (label: string, m: MetricId, key: string): void => {
    if (!o.only.has(m)) return;
    const cells = peers.map((p) => {
      const v = results[p]?.[m]?.detail?.[key];
      return typeof v === 'number' ? fmt(v, '') : '—';
    });
    if (cells.some((c) => c !== '—')) rows.push([label, ...cells]);
  };
  add('PUT, CPU s per GiB', 'put', 'serverCpuSecPerGiB');
  add('GET, CPU s per GiB', 'get', 'serverCpuSecPerGiB');
  add('range GET, CPU ms each', 'range', 'serverCpuMsPerOp');
  add('small PUT, CPU ms each', 'smallput', 'serverCpuMsPerOp');
  add(`PROPFIND ${o.smallCount} files, CPU ms each`, 'propfind', 'serverCpuMsPerOp');
  add('small GET, CPU ms each', 'smallget', 'serverCpuMsPerOp');
  if (!rows.length) return '';
  return markdown(['server CPU (own processes)', ...peers.map((p) => (p === 'davcryptN' ? `davcrypt ${workers} workers` : PEER_LABELS[p]))], rows);
}
