// Readiness: is the store reachable, and is every configured backend? Each part is a
// HealthProbe (a name and a probe with a deadline); Readiness runs them in parallel,
// caches the answer for a short while (probes every few seconds must not load the
// store or the backends), and logs each part's change of state once. The probes here
// are deliberately simple (one store get, one stat of a backend's root); a store or
// backend with a health function of its own can be handed in as a HealthProbe instead.
// Never creates anything: a probe only looks.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type Keyv from 'keyv';
import {
  createDropboxBackend, readDropboxTokenFile, RefreshingDropboxToken, StaticDropboxToken, WebdavBackend, type Backend,
} from '../backends/index.js';
import type { MountConfig } from '../config/types.js';
import { davError, isDavcryptError } from '../errors.js';
import type { Logger } from '../logging.js';

/** One part the gateway needs. */
export interface HealthProbe {
  /** Shown in /readyz and check-config: 'store', 'backend /team'. No secrets, no host names. */
  readonly name: string;
  /** Resolves when the part answers; rejects (best with a DavcryptError) when it does not. Must honour `signal`. */
  probe(signal: AbortSignal): Promise<void>;
  /** Releases what the probe holds (connection pools). */
  close?(): Promise<void>;
}

export interface CheckResult {
  ok: boolean;
  /** Why it failed: a DC_ERR code, a system error code (ECONNREFUSED) or 'timeout'. Short and safe to show. */
  reason?: string;
  /** The full message, for logs and check-config only (may name hosts and paths). */
  detail?: string;
  ms: number;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
  /** When the probes ran (ms since the epoch). */
  at: number;
}

export interface ReadinessOptions {
  /** Deadline of each probe (default 2000 ms). */
  timeoutMs?: number;
  /** How long an answer is reused (default 2000 ms). */
  cacheMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** Runs one probe under its deadline. Never rejects. */
export async function runProbe(probe: HealthProbe, timeoutMs: number): Promise<CheckResult> {
  const started = Date.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = davError('DC_ERR_BACKEND_UNAVAILABLE', `${probe.name}: no answer within ${timeoutMs} ms`, { details: { timeout: true } });
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    // The race covers probes that cannot be aborted (a store call queued while Redis reconnects).
    await Promise.race([probe.probe(controller.signal), deadline]);
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, reason: reasonOf(err), detail: (err as Error)?.message ?? String(err), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(err: unknown): string {
  if (isDavcryptError(err) && err.details.timeout === true) return 'timeout';
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  const causeCode = ((err as { cause?: { code?: unknown } } | undefined)?.cause)?.code;
  if (typeof causeCode === 'string' && /^[A-Z0-9_]{2,40}$/.test(causeCode)) return causeCode;
  return 'error';
}

export class Readiness {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private last?: ReadinessReport;
  private running?: Promise<ReadinessReport>;
  private readonly state = new Map<string, boolean>();

  constructor(readonly probes: HealthProbe[], private readonly options: ReadinessOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.cacheMs = options.cacheMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  private draining = false;

  /**
   * From now on not ready ('shutdown': 'failed: draining'), whatever the probes say: a graceful
   * shutdown calls it first, so load balancers stop sending new requests while running ones finish.
   */
  drain(): void {
    this.draining = true;
  }

  /** The current answer: cached when younger than cacheMs; concurrent callers share one run. */
  async check(): Promise<ReadinessReport> {
    const report = await this.probed();
    if (!this.draining) return report;
    return { ...report, ready: false, checks: { ...report.checks, shutdown: { ok: false, reason: 'draining', ms: 0 } } };
  }

  private probed(): Promise<ReadinessReport> {
    if (this.last && this.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last);
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    await Promise.all(this.probes.map((p) => p.close?.().catch(() => undefined)));
  }

  private async run(): Promise<ReadinessReport> {
    const results = await Promise.all(this.probes.map((p) => runProbe(p, this.timeoutMs)));
    const checks: Record<string, CheckResult> = {};
    this.probes.forEach((p, i) => {
      const r = results[i]!;
      checks[p.name] = r;
      const before = this.state.get(p.name);
      if (before !== r.ok) {
        this.state.set(p.name, r.ok);
        if (!r.ok) this.options.logger?.warn('readiness: part unavailable', { check: p.name, reason: r.reason, error: r.detail });
        else if (before === false) this.options.logger?.info('readiness: part available again', { check: p.name });
      }
    });
    const report = { ready: results.every((r) => r.ok), checks, at: this.now() };
    this.last = report;
    return report;
  }
}

/** The store answers a read (a key nobody writes). */
export function storeProbe(store: Keyv): HealthProbe {
  return {
    name: 'store',
    async probe() {
      await store.get('__davcrypt_probe__');
    },
  };
}

/**
 * The part of a mount's backend that exists before any user logged in: the root/URL itself for a
 * shared mount, the part above the first `{user}` for per-user homes.
 */
export function probeTarget(mount: MountConfig): string {
  const b = mount.backend;
  const where = b.type === 'webdav' ? b.url : b.root;
  const cut = where.indexOf('{user}');
  if (cut < 0) return where;
  const above = where.slice(0, cut);
  if (b.type === 'dropbox') return above.endsWith('/') ? above.slice(0, -1) || '/' : dirname(above);
  return b.type === 'local' ? (above.endsWith('/') ? above : dirname(above)) : above.slice(0, above.lastIndexOf('/') + 1);
}

/** One probe per configured mount, named 'backend <mount path>'. */
export function backendProbes(mounts: MountConfig[]): HealthProbe[] {
  return mounts.map((m) => (m.backend.type === 'local' ? localProbe(m) : m.backend.type === 'dropbox' ? dropboxProbe(m) : webdavProbe(m)));
}

/**
 * A local root (or its nearest existing ancestor, since roots are created on first use) is a
 * folder the gateway may read, write and enter. A volume that went away fails here.
 */
function localProbe(mount: MountConfig): HealthProbe {
  const target = probeTarget(mount);
  return {
    name: `backend ${mount.path}`,
    async probe() {
      let dir = target;
      for (;;) {
        const found = await stat(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT' && dirname(dir) !== dir) return undefined;
          throw err;
        });
        if (found) {
          if (!found.isDirectory()) throw davError('DC_ERR_BACKEND', `${dir} is not a folder`);
          await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
          return;
        }
        dir = dirname(dir);
      }
    },
  };
}

/**
 * A PROPFIND (Depth 0) of the WebDAV URL with the configured credentials. 403 counts as
 * reachable: some servers do not let a service account list the folder above the homes.
 */
function webdavProbe(mount: MountConfig): HealthProbe {
  const b = mount.backend;
  if (b.type !== 'webdav') throw davError('DC_ERR_INTERNAL', 'webdavProbe needs a webdav mount'); // a caller's bug: probes are picked by type
  let backend: WebdavBackend | undefined;
  const open = () =>
    (backend ??= new WebdavBackend({
      url: probeTarget(mount), username: b.username, password: b.password, ca: b.ca,
      timeouts: { connectMs: 5000, headersMs: 5000, bodyMs: 5000 }, maxConnections: 1,
    }));
  return {
    name: `backend ${mount.path}`,
    async probe(signal) {
      try {
        await open().stat('/', { signal });
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_FORBIDDEN')) return;
        throw err;
      }
    },
    async close() {
      await backend?.close();
      backend = undefined;
    },
  };
}

/** A Dropbox mount: the folder above the per-user roots (or the root) answers get_metadata. */
function dropboxProbe(mount: MountConfig): HealthProbe {
  const b = mount.backend;
  if (b.type !== 'dropbox') throw davError('DC_ERR_INTERNAL', 'dropboxProbe needs a dropbox mount'); // a caller's bug: probes are picked by type
  let backend: Promise<Backend> | undefined;
  const open = () =>
    (backend ??= (async () => {
      const token = b.tokenFile !== undefined ? await readDropboxTokenFile(b.tokenFile) : b.token!;
      const tokens = b.appKey !== undefined
        ? new RefreshingDropboxToken({ appKey: b.appKey, refreshToken: token, apiBase: b.apiBase })
        : new StaticDropboxToken(token);
      return createDropboxBackend({ root: probeTarget(mount), api: { tokens, apiBase: b.apiBase, contentBase: b.contentBase } });
    })().catch((err: unknown) => {
      backend = undefined;
      throw err;
    }));
  return {
    name: `backend ${mount.path}`,
    async probe(signal) {
      await (await open()).stat('/', { signal });
    },
    async close() {
      const opened = backend;
      backend = undefined;
      await (await opened?.catch(() => undefined))?.close();
    },
  };
}
