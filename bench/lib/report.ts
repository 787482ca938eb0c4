// Turns per-peer results into the issue-6 table (metric | apache direct |
// davcrypt | rclone crypt | davcrypt/apache | target | met?) and the JSON
// record, with the machine it ran on. No measuring here.
import { execSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import type { BenchOptions, MetricId } from './options.js';
import { rangeOffsetBytes } from './options.js';
import type { PeerResults } from './measure.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  kernel: string;
  memTotalMiB: number;
  apache?: string;
  rclone?: string;
  wrk?: string;
  storage: string;
  /** 1-minute load average before and after the run: other work on the machine skews every number. */
  loadAvgStart?: number;
  loadAvgEnd?: number;
  /** sha256 speed of the bench process: an upper bound for every verified GET. */
  clientSha256MBs?: number;
}

export function describeMachine(storage: string, versions: { apache?: string; rclone?: string; wrk?: string }, loadAvgStart?: number): Machine {
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
  label: string;
  /** Describes the target in the table. */
  text: string;
  /** Which number the target judges: the davcrypt value itself, or davcrypt/apache. */
  on: 'value' | 'ratio';
  cmp: '>=' | '<=';
  bound: number;
}

export function metricLabel(m: MetricId, o: BenchOptions): string {
  switch (m) {
    case 'get': return `GET ${o.sizeMiB} MiB (MB/s)`;
    case 'put': return `PUT ${o.sizeMiB} MiB (MB/s)`;
    case 'range': return `4 KiB range GET @ ${Math.round(rangeOffsetBytes(o.sizeMiB) / 1048576)} MiB, median (ms)`;
    case 'smallput': return `${o.smallCount} small PUTs, sequential (s)`;
    case 'propfind': return `PROPFIND Depth 1, ${o.smallCount} files, median (ms)`;
    case 'smallget': return `small GET, ${o.smallGetConnections} conns (req/s)`;
    case 'rss': return `peak RSS, PUT+GET ${o.rssSmallMiB < o.sizeMiB ? `${o.rssSmallMiB} and ` : ''}${o.sizeMiB} MiB (MiB)`;
  }
}

export const TARGETS: Record<MetricId, Target> = {
  get: { label: 'get', text: '>= 40% of Apache', on: 'ratio', cmp: '>=', bound: 0.4 },
  put: { label: 'put', text: '>= 60% of Apache', on: 'ratio', cmp: '>=', bound: 0.6 },
  range: { label: 'range', text: '<= 1 ms', on: 'value', cmp: '<=', bound: 1 },
  smallput: { label: 'smallput', text: '<= 6x Apache', on: 'ratio', cmp: '<=', bound: 6 },
  propfind: { label: 'propfind', text: '<= 2x Apache', on: 'ratio', cmp: '<=', bound: 2 },
  smallget: { label: 'smallget', text: '>= 3000 req/s', on: 'value', cmp: '>=', bound: 3000 },
  rss: { label: 'rss', text: '<= 100 MiB', on: 'value', cmp: '<=', bound: 100 },
};

export interface Row {
  metric: MetricId;
  label: string;
  apache?: number;
  davcrypt?: number;
  rclone?: number;
  ratio?: number;
  rcloneRatio?: number;
  target: string;
  met?: boolean;
}

export type AllResults = Partial<Record<'apache' | 'davcrypt' | 'rclone', PeerResults>>;

export function buildRows(results: AllResults, o: BenchOptions): Row[] {
  const rows: Row[] = [];
  for (const m of Object.keys(TARGETS) as MetricId[]) {
    if (!o.only.has(m)) continue;
    const t = TARGETS[m];
    const apache = results.apache?.[m]?.value;
    const davcrypt = results.davcrypt?.[m]?.value;
    const rclone = results.rclone?.[m]?.value;
    const ratio = apache && davcrypt !== undefined ? davcrypt / apache : undefined;
    const rcloneRatio = apache && rclone !== undefined ? rclone / apache : undefined;
    const judged = t.on === 'ratio' ? ratio : davcrypt;
    const met = judged === undefined ? undefined : t.cmp === '>=' ? judged >= t.bound : judged <= t.bound;
    rows.push({ metric: m, label: metricLabel(m, o), apache, davcrypt, rclone, ratio, rcloneRatio, target: t.text, met });
  }
  return rows;
}

function fmt(v: number | undefined, missing: string): string {
  if (v === undefined) return missing;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Markdown table (also readable on a terminal). `missing` maps a peer id to what to print when it has no value. */
export function renderTable(rows: Row[], missing: Record<'apache' | 'davcrypt' | 'rclone', string>): string {
  const header = ['metric', 'Apache direct', 'davcrypt', 'rclone crypt', 'davcrypt/Apache', 'rclone/Apache', 'target', 'met?'];
  const body = rows.map((r) => [
    r.label,
    r.metric === 'rss' && r.apache === undefined ? '— (multi-process)' : fmt(r.apache, missing.apache),
    fmt(r.davcrypt, missing.davcrypt),
    fmt(r.rclone, missing.rclone),
    r.ratio === undefined ? '—' : r.ratio.toFixed(2),
    r.rcloneRatio === undefined ? '—' : r.rcloneRatio.toFixed(2),
    r.target,
    r.met === undefined ? '—' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/**
 * Server CPU spent per operation (from /proc/<pid>/stat), for the single-process peers. Less than the
 * timings it depends on what else runs on the machine, so it is the better number to compare across runs.
 */
export function renderCpuTable(results: AllResults, o: BenchOptions): string {
  const rows: Array<[string, string, string]> = [];
  const cell = (peer: 'davcrypt' | 'rclone', m: MetricId, key: string): string => {
    const v = results[peer]?.[m]?.detail?.[key];
    return typeof v === 'number' ? fmt(v, '') : '—';
  };
  const add = (label: string, m: MetricId, key: string): void => {
    if (!o.only.has(m)) return;
    const d = cell('davcrypt', m, key);
    const r = cell('rclone', m, key);
    if (d !== '—' || r !== '—') rows.push([label, d, r]);
  };
  add('PUT, CPU s per GiB', 'put', 'serverCpuSecPerGiB');
  add('GET, CPU s per GiB', 'get', 'serverCpuSecPerGiB');
  add('range GET, CPU ms each', 'range', 'serverCpuMsPerOp');
  add('small PUT, CPU ms each', 'smallput', 'serverCpuMsPerOp');
  add(`PROPFIND ${o.smallCount} files, CPU ms each`, 'propfind', 'serverCpuMsPerOp');
  add('small GET, CPU ms each', 'smallget', 'serverCpuMsPerOp');
  if (!rows.length) return '';
  const header: [string, string, string] = ['server CPU cost', 'davcrypt', 'rclone crypt'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
