// Command-line options of `npm run bench`: sizes, repetitions, which metrics and
// which peers. Pure parsing, no I/O beyond reading argv; unknown flags throw.
import { availableParallelism } from 'node:os';

/** Every metric the benchmark can measure (issue 6 table rows). */
export const METRIC_IDS = ['put', 'get', 'range', 'smallput', 'propfind', 'smallget', 'rss'] as const;
export type MetricId = (typeof METRIC_IDS)[number];

/** davcrypt: server.workers = 1; davcryptN: server.workers = --workers (default: the number of cores). */
/** nodeproxy: a forward-only Node proxy (bench/lib/node-proxy-server.ts), the floor of a Node gateway. */
export const PEER_IDS = ['apache', 'nginx', 'nodeproxy', 'davcrypt', 'davcryptN', 'rclone'] as const;
export type PeerId = (typeof PEER_IDS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Size of the large PUT/GET body in MiB. */
  sizeMiB: number;
  /** Repetitions of each throughput/latency measurement; the median is reported. */
  reps: number;
  only: Set<MetricId>;
  peers: Set<PeerId>;
  /** Number of sequential 1 KiB PUTs, also the number of files in the PROPFIND folder. */
  smallCount: number;
  /** Repetitions of the small-PUT series (each is already an aggregate of smallCount requests). */
  smallReps: number;
  rangeRequests: number;
  propfindRequests: number;
  /** Seconds of each 8-connection small-GET run. */
  smallGetSeconds: number;
  smallGetConnections: number;
  /** Also measure RSS during a transfer of this size (MiB) to show memory is flat in file size. */
  rssSmallMiB: number;
  /** Write a V8 CPU profile of the davcrypt gateway into this folder. */
  cpuProfDir?: string;
  /** Use a plain temp dir even when tmpfs could be mounted. */
  noTmpfs: boolean;
  jsonPath: string;
  /** Force the undici loop instead of wrk for the small-GET throughput. */
  noWrk: boolean;
  /** Time the large PUT/GET with undici instead of curl. */
  noCurl: boolean;
  /** server.workers of the davcryptN peer (default: the number of cores). */
  workers: number;
  /** How to run the gateway: `bin` = `npm run build` then bin/davcrypt.js (as `npm start` does, compiled dist/),
   *  `tsx` = src/cli.ts through the tsx loader, `node` = compiled by tsc into bench/results/build. */
  runtime: 'bin' | 'tsx' | 'node';
  /** Extra node flags for the gateway process (e.g. --max-semi-space-size=4). */
  gatewayNodeFlags: string[];
}

export const USAGE = `usage: npm run bench -- [--quick] [--size-mib N] [--reps N] [--only m1,m2]
       [--peers apache,nginx,nodeproxy,davcrypt,davcryptN,rclone] [--workers N] [--small-count N] [--small-reps N] [--smallget-seconds N]
       [--runtime bin|tsx|node] [--gateway-node-flag=--FLAG]... [--cpu-prof DIR] [--no-tmpfs] [--no-wrk] [--no-curl] [--json PATH]
metrics: ${METRIC_IDS.join(', ')}`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer, got ${String(value)}`);
  return n;
}

function idList<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): Set<T> {
  if (!value) throw new Error(`${flag} needs a comma-separated list of ${allowed.join(', ')}`);
  const out = new Set<T>();
  for (const raw of value.split(',')) {
    const id = raw.trim() as T;
    if (!allowed.includes(id)) throw new Error(`${flag}: unknown '${raw}', expected one of ${allowed.join(', ')}`);
    out.add(id);
  }
  return out;
}

/** Parses argv (without node and script). Throws Error with a readable message on a bad flag. */
export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const o: BenchOptions = {
    quick,
    sizeMiB: quick ? 64 : 1024,
    reps: quick ? 1 : 3,
    only: new Set(METRIC_IDS),
    peers: new Set(PEER_IDS),
    smallCount: quick ? 200 : 1000,
    smallReps: 1,
    rangeRequests: quick ? 20 : 50,
    propfindRequests: quick ? 10 : 20,
    smallGetSeconds: quick ? 2 : 5,
    smallGetConnections: 8,
    rssSmallMiB: 100,
    noTmpfs: false,
    jsonPath: 'bench/results/latest.json',
    noWrk: false,
    noCurl: false,
    workers: availableParallelism(),
    runtime: 'bin',
    gatewayNodeFlags: [],
  };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    const eq = flag?.startsWith('--gateway-node-flag=') ? flag.indexOf('=') : -1;
    if (eq > 0) {
      argv = [...argv.slice(0, i), flag!.slice(0, eq), flag!.slice(eq + 1), ...argv.slice(i + 1)];
      flag = argv[i];
    }
    const next = (): string | undefined => argv[++i];
    switch (flag) {
      case '--quick': break;
      case '--size-mib': o.sizeMiB = positiveInt(flag, next()); break;
      case '--reps': o.reps = positiveInt(flag, next()); break;
      case '--only': o.only = idList(flag, next(), METRIC_IDS); break;
      case '--peers': o.peers = idList(flag, next(), PEER_IDS); break;
      case '--small-count': o.smallCount = positiveInt(flag, next()); break;
      case '--small-reps': o.smallReps = positiveInt(flag, next()); break;
      case '--range-requests': o.rangeRequests = positiveInt(flag, next()); break;
      case '--propfind-requests': o.propfindRequests = positiveInt(flag, next()); break;
      case '--smallget-seconds': o.smallGetSeconds = positiveInt(flag, next()); break;
      case '--rss-small-mib': o.rssSmallMiB = positiveInt(flag, next()); break;
      case '--cpu-prof': o.cpuProfDir = next(); if (!o.cpuProfDir) throw new Error('--cpu-prof needs a folder'); break;
      case '--no-tmpfs': o.noTmpfs = true; break;
      case '--no-wrk': o.noWrk = true; break;
      case '--no-curl': o.noCurl = true; break;
      case '--workers': o.workers = positiveInt(flag, next()); break;
      case '--gateway-node-flag': {
        const v = next();
        if (!v?.startsWith('--')) throw new Error('--gateway-node-flag needs a node flag, e.g. --gateway-node-flag=--max-semi-space-size=4');
        o.gatewayNodeFlags.push(v);
        break;
      }
      case '--runtime': {
        const v = next();
        if (v !== 'bin' && v !== 'tsx' && v !== 'node') throw new Error('--runtime needs bin, tsx or node');
        o.runtime = v;
        break;
      }
      case '--json': o.jsonPath = next() ?? ''; if (!o.jsonPath) throw new Error('--json needs a path'); break;
      case '-h': case '--help': throw new Error(USAGE);
      default: throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return o;
}

/** Plain-side offset of the 4 KiB range GET: 900 MiB for a 1 GiB body, scaled down for smaller ones. */
export function rangeOffsetBytes(sizeMiB: number): number {
  const MiB = 1024 * 1024;
  const scaled = Math.floor((sizeMiB * MiB * 900) / 1024);
  return Math.min(Math.floor(scaled / 4096) * 4096, sizeMiB * MiB - 4096);
}
