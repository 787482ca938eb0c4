// Same-size overwrites racing range GETs through a gateway: the case where a header cache bound
// to the wrong version answered "tampered" (502) for a valid file. Every GET must be a 206 whose
// bytes are the slice of one version that was written; returns the counts for the report.
import { Agent, request } from 'undici';
import { patternBytes } from './gateway.js';

export interface RaceResult {
  rounds: number;
  gets: number;
  /** status → count over every range GET */
  statuses: Record<number, number>;
  /** 206 answers whose bytes match no written version */
  wrongBytes: number;
  /** bodies of the first few non-206 answers */
  failures: string[];
  ms: number;
}

export async function overwriteRace(gw: { url: string }, auth: string, path: string, rounds: number, plainSize = 200_000): Promise<RaceResult> {
  const agent = new Agent({ connections: 8, pipelining: 0 });
  const ranges: [number, number][] = [[70_000, 70_999], [plainSize - 100, plainSize - 1], [0, 99]];
  const versions = new Map<number, Buffer>();
  const result: RaceResult = { rounds, gets: 0, statuses: {}, wrongBytes: 0, failures: [], ms: 0 };
  const started = Date.now();
  const put = async (seed: number) => {
    const body = patternBytes(plainSize, seed);
    versions.set(seed, body);
    const res = await request(new URL(path, gw.url), {
      method: 'PUT', body, headers: { authorization: auth, 'content-length': String(body.length) }, dispatcher: agent,
    });
    await res.body.dump();
    if (res.statusCode !== 201 && res.statusCode !== 204) throw new Error(`PUT answered ${res.statusCode}`);
  };
  const get = async ([start, end]: [number, number]) => {
    const res = await request(new URL(path, gw.url), { headers: { authorization: auth, range: `bytes=${start}-${end}` }, dispatcher: agent });
    const body = Buffer.from(await res.body.arrayBuffer());
    result.gets += 1;
    result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
    if (res.statusCode !== 206 && result.failures.length < 5) result.failures.push(`${res.statusCode} ${body.toString('utf8').trim()}`);
    if (res.statusCode === 206 && ![...versions.values()].some((v) => v.subarray(start, end + 1).equals(body))) result.wrongBytes += 1;
  };
  try {
    await put(0);
    for (let round = 1; round <= rounds; round++) {
      // Two writers of the same size at once: each one's answer must name its own version.
      await Promise.all([put(2 * round), put(2 * round + 1), ...ranges.map(get)]);
    }
  } finally {
    await agent.close();
  }
  result.ms = Date.now() - started;
  return result;
}
