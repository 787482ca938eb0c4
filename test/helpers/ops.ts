// Helpers for the operations suites: scrape and parse Prometheus text, read audit
// JSON lines, poll /readyz until it says what a test waits for.
import { readFile } from 'node:fs/promises';
import { request } from 'undici';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (the subset prom-client writes). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** One scrape: `value(name, labels)` sums the samples whose labels include `labels` (0 when none). */
export async function scrape(metricsUrl: string): Promise<{ text: string; contentType: string; samples: Sample[]; value(name: string, labels?: Record<string, string>): number }> {
  const res = await request(new URL('/metrics', metricsUrl));
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`scrape: HTTP ${res.statusCode}: ${text}`);
  const samples = parsePrometheus(text);
  return {
    text,
    contentType: String(res.headers['content-type']),
    samples,
    value(name, labels = {}) {
      return samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    },
  };
}

/** Every JSON line of an audit file ([] while it does not exist). */
export async function auditLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls `probe` every 100 ms until it returns a value other than undefined; throws after `ms`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET /readyz: status code and parsed body. */
export async function readyz(baseUrl: string, path = '/readyz'): Promise<{ status: number; body: { status: string; failing?: string[]; checks: Record<string, string> } }> {
  const res = await request(new URL(path, baseUrl));
  return { status: res.statusCode, body: (await res.body.json()) as { status: string; failing?: string[]; checks: Record<string, string> } };
}

/** Polls /readyz until it answers `status`; returns that answer. */
export function waitForReadyz(baseUrl: string, status: number, ms = 15_000): ReturnType<typeof readyz> {
  return waitFor(async () => {
    const r = await readyz(baseUrl);
    return r.status === status ? r : undefined;
  }, ms, `/readyz ${status}`);
}
