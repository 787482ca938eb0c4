// Measures whether a WebDAV server keeps the previous version of a file when a PUT is
// aborted (Apache mod_dav_fs, Nextcloud) or commits what arrived (rclone serve webdav):
// one complete PUT, one aborted PUT of the same name, then a look at what is stored.
// Touches only its own hidden probe file (TEMP_PREFIX + 'probe-' + hex) in the
// folder it is given; never throws, never logs, never sees the caller's request body.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { davError, isDavcryptError } from '../errors.js';
import { TEMP_PREFIX } from './layout.js';
import { joinPath } from './paths.js';
import { discard, statusError, type WebdavHttp } from './webdav-http.js';

/** How WebdavBackend.write uploads: PUT onto the target, or PUT to a hidden temp name + MOVE. */
export type UploadMode = 'direct' | 'temp';

export interface UploadProbeResult {
  /**
   * 'temp' when the server commits aborted uploads or the probe failed; 'direct' when an aborted PUT
   * left the stored file alone, or when the server refuses the hidden temp names (403/405) themselves.
   */
  mode: UploadMode;
  /** False when the folder was missing (404/409): nothing was learned, probe again on a later write. */
  conclusive: boolean;
  /** True when the probe itself failed or was refused (logged at warn). */
  failed: boolean;
  /** What was seen, for the log: no credentials, no URLs beyond the probe path. */
  detail: string;
  durationMs: number;
}

/** What the probe needs from the backend. */
export interface UploadProbeTarget {
  /** For messages, e.g. 'webdav:https://host/dav/'. */
  name: string;
  http: WebdavHttp;
  urlFor(path: string): string;
  /** Deletes a hidden file best effort; with `retry`, again in the background (the server may re-create it). */
  removeLater(path: string, retry: boolean): Promise<void>;
}

export interface UploadProbeOptions {
  /** Size of the complete first version (default 4 KiB). */
  completeBytes?: number;
  /** Content-Length declared by the aborted PUT (default 1 MiB). */
  declaredBytes?: number;
  /** Bytes sent before the aborted PUT is cut (default 128 KiB). */
  partialBytes?: number;
  /** Pause after the last sent byte before cutting, so it reaches the server (default 100 ms). */
  abortDelayMs?: number;
  /** Pauses before each look at the stored file (default 0, 100, 150, 250: ~500 ms in all). */
  settleMs?: number[];
  /** The whole probe gives up (mode 'temp') after this (default 15 s). */
  timeoutMs?: number;
}

const CHUNK_BYTES = 16 * 1024;

/** Reads at most `maxBytes` of a body; undefined when it is longer. */
async function readUpTo(body: Readable, maxBytes: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      body.destroy();
      return undefined;
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/**
 * Probes `folder` (a normalized backend path) once. Never throws: a failing probe answers
 * { mode: 'temp', failed: true }. Leaves no visible file; the hidden probe file is deleted
 * (in the background, with retries) before or shortly after the promise settles.
 */
export async function probeUploadMode(target: UploadProbeTarget, folder: string, opts: UploadProbeOptions = {}): Promise<UploadProbeResult> {
  const started = performance.now();
  const completeBytes = opts.completeBytes ?? 4096;
  const declaredBytes = opts.declaredBytes ?? 1024 * 1024;
  const partialBytes = Math.min(opts.partialBytes ?? 128 * 1024, declaredBytes - 1);
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 15_000);
  const probePath = joinPath(folder, TEMP_PREFIX + 'probe-' + randomBytes(8).toString('hex'));
  const where = (op: string) => `${target.name} upload-probe ${op} ${probePath}`;
  const url = target.urlFor(probePath);
  const done = (mode: UploadMode, detail: string, extra: Partial<UploadProbeResult> = {}): UploadProbeResult =>
    ({ mode, conclusive: true, failed: false, detail, durationMs: Math.round(performance.now() - started), ...extra });
  let mayExist = true;
  // Only a server that commits cut-off uploads can re-create the probe file after our DELETE.
  let retryDelete = true;
  try {
    // 1. A complete first version.
    const versionA = randomBytes(completeBytes);
    const put = await target.http.send(where('PUT'), 'PUT', url, {
      headers: { 'content-length': String(completeBytes), 'content-type': 'application/octet-stream' }, body: Readable.from([versionA]), signal,
    });
    await discard(put.body);
    if (put.statusCode === 404 || put.statusCode === 409) {
      mayExist = false;
      return done('temp', `folder ${folder} missing (${put.statusCode})`, { conclusive: false });
    }
    if (put.statusCode === 403 || put.statusCode === 405) {
      // E.g. a davcrypt share (it reserves these names): temp uploads would be refused just the same.
      mayExist = false;
      return done('direct', `upload probe refused: the server refuses hidden temp names (${put.statusCode}), so uploads cannot go via a temp name`, { failed: true });
    }
    if (put.statusCode < 200 || put.statusCode > 299) throw statusError(where('PUT'), put.statusCode, probePath);

    // 2. A second version that declares more than it sends, then is cut off as a client would be.
    const fill = Buffer.alloc(CHUNK_BYTES, 0x5a);
    const abortDelayMs = opts.abortDelayMs ?? 100;
    const partial = Readable.from((async function* () {
      for (let sent = 0; sent < partialBytes; sent += CHUNK_BYTES) yield fill.subarray(0, Math.min(CHUNK_BYTES, partialBytes - sent));
      await sleep(abortDelayMs, undefined, { signal });
      throw davError('DC_ERR_ABORTED', 'upload probe: cut off on purpose');
    })());
    try {
      const cut = await target.http.send(where('aborted PUT'), 'PUT', url, {
        headers: { 'content-length': String(declaredBytes), 'content-type': 'application/octet-stream' }, body: partial, signal,
      });
      // The server answered before the body ended (e.g. 413/507): what it stored is checked below all the same.
      await discard(cut.body);
    } catch (err) {
      if (signal.aborted) throw err;
      // Expected: the request fails because its body did.
    } finally {
      partial.destroy();
    }

    // 3. Did the server keep version A? Look at once and again a little later (rclone finishes the aborted PUT in the background).
    for (const pauseMs of opts.settleMs ?? [0, 100, 150, 250]) {
      if (pauseMs > 0) await sleep(pauseMs, undefined, { signal });
      const get = await target.http.send(where('GET'), 'GET', url, { headers: { 'accept-encoding': 'identity' }, signal });
      if (get.statusCode === 404) {
        await discard(get.body);
        return done('temp', 'the stored file vanished after an aborted PUT');
      }
      if (get.statusCode !== 200) {
        await discard(get.body);
        throw statusError(where('GET'), get.statusCode, probePath);
      }
      const stored = await readUpTo(get.body, declaredBytes);
      if (stored === undefined || !stored.equals(versionA)) {
        const size = stored === undefined ? `more than ${declaredBytes}` : String(stored.length);
        return done('temp', `an aborted PUT replaced the stored file (${completeBytes} bytes became ${size})`);
      }
    }
    retryDelete = false;
    return done('direct', 'the stored file was unchanged after an aborted PUT');
  } catch (err) {
    const why = signal.aborted ? `no answer within ${opts.timeoutMs ?? 15_000} ms` : isDavcryptError(err) ? err.message : String(err);
    return done('temp', `upload probe failed: ${why}`, { failed: true });
  } finally {
    // Also after a failed or timed-out first PUT: it may have created the file anyway.
    if (mayExist) await target.removeLater(probePath, retryDelete).catch(() => undefined);
  }
}

/** The part of a logger the measurement uses (a winston Logger fits). */
export interface UploadProbeLogger {
  info(message: string): unknown;
  warn(message: string): unknown;
}

/**
 * One backend's 'auto' decision: probes lazily, once (concurrent callers share the probe), logs
 * the decision at info and a failed probe at warn, and measures again after an inconclusive probe
 * (its folder was missing).
 */
export class UploadModeMeasurement {
  private running?: Promise<UploadProbeResult>;
  private finished?: UploadProbeResult;

  constructor(
    private readonly target: UploadProbeTarget,
    private readonly opts: { probe?: UploadProbeOptions; logger?: UploadProbeLogger; isClosed?: () => boolean } = {},
  ) {}

  /** The last finished probe. */
  get result(): UploadProbeResult | undefined {
    return this.finished;
  }

  /** The decision, probing `folder` when there is none yet. Never rejects. */
  measure(folder: string): Promise<UploadProbeResult> {
    if (this.finished?.conclusive) return Promise.resolve(this.finished);
    this.running ??= probeUploadMode(this.target, folder, this.opts.probe).then((result) => {
      this.finished = result;
      if (!result.conclusive) this.running = undefined;
      else this.log(result);
      return result;
    });
    return this.running;
  }

  /** Whether a write into `folder` must go via a temp name. Rejects only when `signal` fires (with its reason). */
  async viaTemp(folder: string, signal?: AbortSignal): Promise<boolean> {
    if (this.finished?.conclusive) return this.finished.mode === 'temp';
    signal?.throwIfAborted();
    const measuring = this.measure(folder);
    if (!signal) return (await measuring).mode === 'temp';
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return (await Promise.race([measuring, aborted])).mode === 'temp';
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private log(result: UploadProbeResult): void {
    const name = this.target.name;
    if (result.failed) {
      // A probe cut short by close() is no news.
      if (this.opts.isClosed?.()) return;
      this.opts.logger?.warn(result.mode === 'temp'
        ? `backend ${name}: ${result.detail}; uploading via temp name + MOVE to be safe`
        : `backend ${name}: ${result.detail}; direct uploads (set uploadViaTemp: false to silence this; if the server commits aborted PUTs, an aborted upload replaces the previous version)`);
    } else if (result.mode === 'temp') {
      this.opts.logger?.info(`backend ${name}: aborted PUTs are committed by the server; uploading via temp name + MOVE (probe: ${result.detail}, ${result.durationMs} ms)`);
    } else {
      this.opts.logger?.info(`backend ${name}: PUT is atomic; direct uploads (probe: ${result.detail}, ${result.durationMs} ms)`);
    }
  }
}
