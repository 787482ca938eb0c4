// `davcrypt serve` on several cores (server.workers): the primary process forks that many
// gateway workers sharing the port (node:cluster), replaces one that dies (with backoff),
// forwards SIGTERM/SIGINT/SIGHUP to them and returns once they have all exited. Each
// worker runs the ordinary single-process serve (serve.ts). Everything shared lives in
// the store: locks, dead properties, keyrings and the initial admin are decided under the
// store mutex (src/store-mutex.ts), so the primary does no gateway work of its own; it only
// puts a sqlite store in WAL mode once before forking and, with server.metrics, gathers the
// workers' metrics for a scrape (src/ops/cluster-metrics.ts). Never touches a request.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { Config } from '../config/types.js';
import { davError } from '../errors.js';
import type { Logger } from '../logging.js';
import { closeStore, createStore, sqliteStoreOf } from '../store.js';

/** Set in a worker's environment by the primary; serve.ts then runs one gateway and reports to it. */
const WORKER_ENV = 'DAVCRYPT_SERVE_WORKER';

/** A worker that lived this long before dying starts the backoff afresh. */
const STABLE_AFTER_MS = 30_000;
const FIRST_RESTART_MS = 250;
const MAX_RESTART_MS = 30_000;
/** After forwarding SIGTERM/SIGINT, how long a worker may take to close gracefully before SIGKILL. */
const SHUTDOWN_GRACE_MS = 60_000;

type ForwardedSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';
interface SignalMessage { davcrypt: 'signal'; signal: ForwardedSignal }
interface ReadyMessage { davcrypt: 'ready'; url: string }

/** True in a process the serve primary forked. */
export function isServeWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/**
 * How many gateway processes `davcrypt serve` runs: server.workers, or (auto, the default) one per
 * core. A memory:// store lives inside one process (users, locks would not be shared): always 1.
 */
export function serveWorkerCount(config: Config, cores: number = availableParallelism()): number {
  if (config.store.startsWith('memory://')) return 1;
  return Math.max(1, config.server.workers ?? Math.min(MAX_AUTO_WORKERS, cores));
}

/** auto stops here, as an explicit server.workers does (config/load.ts): each worker is a whole gateway's RSS. */
const MAX_AUTO_WORKERS = 64;

/** Why serve runs one process although more were asked for (or auto), for the start-up notice; undefined otherwise. */
export function singleWorkerReason(config: Config, cores: number = availableParallelism()): string | undefined {
  if (config.server.workers === 1) return undefined;
  if (config.store.startsWith('memory://') && (config.server.workers ?? cores) > 1) {
    return 'one gateway process (server.workers): a memory:// store lives inside one process; use sqlite:// or redis:// for more';
  }
  return undefined;
}

/**
 * Whether this process can fork copies of itself: its entry is the davcrypt CLI (bin/davcrypt.js,
 * dist/cli.js, src/cli.ts). A test runner that calls runServe in-process is not, and stays single.
 */
export function canForkServe(entry: string | undefined = process.argv[1]): boolean {
  return !!entry && /^(davcrypt(\.js)?|cli\.(js|ts))$/.test(basename(entry));
}

/**
 * In a worker: makes shutdown signals idempotent and lets the primary forward them. A terminal's
 * Ctrl-C and systemd's SIGTERM reach every process of the group as well as the primary, so a
 * worker sees each twice; without a lasting listener the second would kill it mid-close (the
 * primary's SIGKILL after SHUTDOWN_GRACE_MS still ends a worker that hangs). When the primary
 * disappears (its IPC channel closes) the worker shuts down too.
 */
export function installWorkerSignals(): void {
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  process.on('SIGHUP', ignore);
  process.on('message', (m: unknown) => {
    const msg = m as Partial<SignalMessage> | undefined;
    if (msg?.davcrypt === 'signal' && (msg.signal === 'SIGTERM' || msg.signal === 'SIGINT' || msg.signal === 'SIGHUP')) {
      process.emit(msg.signal, msg.signal);
    }
  });
  process.once('disconnect', () => process.emit('SIGTERM', 'SIGTERM'));
}

/** In a worker: tells the primary this gateway is listening. */
export function reportWorkerReady(url: string): void {
  process.send?.({ davcrypt: 'ready', url } satisfies ReadyMessage);
}

/** In a worker, after its gateway closed: drops the IPC channel, which would keep the process alive. */
export function leaveCluster(): void {
  if (process.connected) process.disconnect();
}

/**
 * WAL lets one worker write the sqlite file while the others read it (the default rollback
 * journal makes readers and a writer wait for each other). The mode is kept in the file,
 * so it is set once here, before any worker opens it.
 */
async function prepareSharedStore(url: string, logger: Logger): Promise<void> {
  if (!url.startsWith('sqlite://')) return;
  const store = await createStore(url);
  try {
    await sqliteStoreOf(store)?.query('PRAGMA journal_mode=WAL');
  } catch (err) {
    // Correct without it (busy timeout), only slower when workers write at once.
    logger.warn('could not switch the sqlite store to WAL mode', { error: (err as Error)?.message ?? String(err) });
  } finally {
    await closeStore(store);
  }
}

export interface ServePrimaryIo {
  stdout: NodeJS.WritableStream;
  logger: Logger;
}

/**
 * Runs the primary: forks `count` workers and supervises them until SIGTERM/SIGINT, then
 * resolves once every worker has exited. Rejects (DC_ERR_CONFIG) when a worker exits
 * before any worker was ready (a start-up error, which the worker printed), after
 * stopping the others.
 */
export async function runServePrimary(config: Config, count: number, io: ServePrimaryIo): Promise<void> {
  const { stdout, logger } = io;
  await prepareSharedStore(config.store, logger);
  // prom-client loads only when metrics are on.
  const stopScrapes = config.server.metrics ? (await import('../ops/cluster-metrics.js')).answerClusterScrapes() : undefined;
  const workers = new Map<number, Worker>();
  const restarts = new Map<number, ReturnType<typeof setTimeout>>();
  const crashes = new Map<number, number>();
  let stopping = false;
  let everReady = false;
  let readyCount = 0;

  return new Promise<void>((resolve, reject) => {
    let failure: Error | undefined;
    const finishIfDone = () => {
      if (!stopping || workers.size > 0) return;
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      stopScrapes?.();
      if (failure) reject(failure);
      else resolve();
    };

    const stopAll = (signal: 'SIGTERM' | 'SIGINT') => {
      if (stopping) return;
      stopping = true;
      for (const t of restarts.values()) clearTimeout(t);
      restarts.clear();
      for (const w of workers.values()) {
        forward(w, signal);
        const kill = setTimeout(() => w.process.kill('SIGKILL'), SHUTDOWN_GRACE_MS);
        kill.unref();
        w.once('exit', () => clearTimeout(kill));
      }
      finishIfDone();
    };

    const fork = (slot: number) => {
      const worker = cluster.fork({ [WORKER_ENV]: '1', DAVCRYPT_WORKER_SLOT: String(slot) });
      const startedAt = Date.now();
      workers.set(slot, worker);
      logger.info('gateway worker started', { worker: slot, pid: worker.process.pid });
      worker.on('message', (m: unknown) => {
        const msg = m as Partial<ReadyMessage> | undefined;
        if (msg?.davcrypt !== 'ready') return;
        readyCount += 1;
        if (!everReady && readyCount >= count) {
          everReady = true;
          stdout.write(`davcrypt: ${count} worker processes (server.workers) listening on ${msg.url}\n`);
        }
      });
      worker.on('exit', (code, signal) => {
        if (workers.get(slot) === worker) workers.delete(slot);
        if (stopping) {
          finishIfDone();
          return;
        }
        if (!everReady) {
          failure = davError('DC_ERR_CONFIG', `gateway worker ${slot} exited during start-up (${signal ?? `exit code ${code}`}); its error is above`);
          stopAll('SIGTERM');
          return;
        }
        const lived = Date.now() - startedAt;
        const n = lived >= STABLE_AFTER_MS ? 0 : (crashes.get(slot) ?? 0) + 1;
        crashes.set(slot, n);
        const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** n);
        logger.error('gateway worker exited; starting a new one', { worker: slot, pid: worker.process.pid, code, signal, restartInMs: delay });
        restarts.set(slot, setTimeout(() => {
          restarts.delete(slot);
          if (!stopping) fork(slot);
        }, delay));
      });
    };

    const onSignal = (signal: ForwardedSignal) => {
      if (signal === 'SIGHUP') {
        for (const w of workers.values()) forward(w, 'SIGHUP');
        return;
      }
      logger.info('shutting down the gateway workers', { signal, workers: workers.size });
      stopAll(signal);
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    for (let slot = 1; slot <= count; slot++) fork(slot);
  });
}

function forward(worker: Worker, signal: ForwardedSignal): void {
  if (!worker.isConnected()) {
    worker.process.kill(signal);
    return;
  }
  worker.send({ davcrypt: 'signal', signal } satisfies SignalMessage, (err: Error | null) => {
    if (err) worker.process.kill(signal); // the channel closed meanwhile: a plain signal still asks it to stop
  });
}
