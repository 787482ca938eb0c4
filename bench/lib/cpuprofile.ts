// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function
// and per source file, so a bench run can say where the gateway spends CPU.
// Reads the file only; also runnable: `tsx bench/lib/cpuprofile.ts FILE [N]`.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  /** Label of the time window, when the summary covers only part of the profile. */
  window?: string;
  totalMs: number;
  idleMs: number;
  byFunction: ProfileEntry[];
  byFile: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

export function readCpuProfile(file: string): CpuProfile {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples)) throw new Error(`${file} is not a .cpuprofile`);
  return profile;
}

/**
 * Aggregates self time. With `window` ({startUs, endUs} on CLOCK_MONOTONIC, the clock V8 stamps
 * samples with) only samples inside it count. Throws if the file is not a V8 CPU profile.
 */
export function summarizeCpuProfile(fileOrProfile: string | CpuProfile, top = 25, window?: { name: string; startUs: number; endUs: number }): ProfileSummary {
  const profile = typeof fileOrProfile === 'string' ? readCpuProfile(fileOrProfile) : fileOrProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.startUs || t > window.endUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') { idleUs += us; continue; }
    const where = shortUrl(url);
    const key = `${functionName || '(anonymous)'} ${where}${url ? ':' + (lineNumber + 1) : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fileKey = functionName.startsWith('(') && !url ? functionName : where;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs || 1;
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, selfMs: us / 1000, percent: (100 * us) / busyUs }));
  return { window: window?.name, totalMs: totalUs / 1000, idleMs: idleUs / 1000, byFunction: rank(fn), byFile: rank(files) };
}

export function renderProfile(s: ProfileSummary, files = 15, functions = 25): string {
  const busy = s.totalMs - s.idleMs;
  const lines = [
    `profile${s.window ? ` [${s.window}]` : ''}: ${(s.totalMs / 1000).toFixed(1)} s sampled, main thread busy ${(busy / 1000).toFixed(1)} s ` +
      `(${((100 * busy) / (s.totalMs || 1)).toFixed(0)}%); shares of busy time:`,
  ];
  lines.push('  by file:');
  for (const e of s.byFile.slice(0, files)) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
  lines.push('  by function:');
  for (const e of s.byFunction.slice(0, functions)) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/lib/cpuprofile.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(renderProfile(summarizeCpuProfile(file, Number(process.argv[3] ?? 25))) + '\n');
}
