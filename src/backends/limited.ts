// LimitedBackend: a decorator that bounds how many backend operations one holder (a user) has
// in flight, so one user's stalled downloads or uploads cannot take every connection of a
// shared backend pool. A read holds its slot until its body is closed. Waiting for a slot is
// bounded too (DC_ERR_BACKEND_UNAVAILABLE). Changes nothing else: same paths, errors, capabilities.
import type { Readable } from 'node:stream';
import { davError } from '../errors.js';
import type {
  Backend, BackendCapabilities, EntryInfo, OpOptions, QuotaInfo, ReadOptions, ReadResult, TransferOptions, WriteOptions,
} from './types.js';

/** A counting semaphore with a bounded, abortable wait. */
export class RequestSlots {
  private inUse = 0;
  private readonly waiting: Array<() => void> = [];

  /** `max` slots; a caller waits at most `maxWaitMs` for one. */
  constructor(readonly max: number, private readonly maxWaitMs: number) {}

  get active(): number {
    return this.inUse;
  }

  /** Resolves with a release function (call it exactly once). Throws DC_ERR_BACKEND_UNAVAILABLE, DC_ERR_ABORTED. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw davError('DC_ERR_ABORTED', 'aborted before a backend slot was free', { cause: signal.reason });
    if (this.inUse < this.max) {
      this.inUse += 1;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const drop = (err: unknown) => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = () => { clearTimeout(timer); drop(davError('DC_ERR_ABORTED', 'aborted while waiting for a backend slot')); };
      const timer = setTimeout(() => drop(davError('DC_ERR_BACKEND_UNAVAILABLE',
        `${this.max} backend requests of this user still running after ${this.maxWaitMs} ms`, { details: { inFlight: this.max } })), this.maxWaitMs);
      timer.unref?.();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
    // The slot was handed over by a release: inUse already counts it.
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.inUse -= 1;
    };
  }
}

export class LimitedBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly setModified?: (path: string, mtime: Date, opts?: OpOptions) => Promise<void>;
  readonly quota?: (path: string, opts?: OpOptions) => Promise<QuotaInfo>;
  readonly listWithSelf?: (path: string, opts?: OpOptions) => Promise<{ self: EntryInfo; children: EntryInfo[] }>;
  readonly listEach?: (path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts?: OpOptions) => Promise<void>;

  constructor(readonly inner: Backend, private readonly slots: RequestSlots) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    if (inner.setModified) this.setModified = (p, mtime, o) => this.run(o, () => inner.setModified!(p, mtime, o));
    if (inner.quota) this.quota = (p, o) => this.run(o, () => inner.quota!(p, o));
    if (inner.listWithSelf) this.listWithSelf = (p, o) => this.run(o, () => inner.listWithSelf!(p, o));
    if (inner.listEach) this.listEach = (p, on, o) => this.run(o, () => inner.listEach!(p, on, o));
  }

  private async run<T>(opts: OpOptions | undefined, op: () => Promise<T>): Promise<T> {
    const release = await this.slots.acquire(opts?.signal);
    try {
      return await op();
    } finally {
      release();
    }
  }

  stat(path: string, opts?: OpOptions): Promise<EntryInfo> {
    return this.run(opts, () => this.inner.stat(path, opts));
  }

  list(path: string, opts?: OpOptions): Promise<EntryInfo[]> {
    return this.run(opts, () => this.inner.list(path, opts));
  }

  /** The slot stays taken while the body streams (a stalled download is what must be bounded). */
  async read(path: string, opts?: ReadOptions): Promise<ReadResult> {
    const release = await this.slots.acquire(opts?.signal);
    let result: ReadResult;
    try {
      result = await this.inner.read(path, opts);
    } catch (err) {
      release();
      throw err;
    }
    releaseOnClose(result.body, release);
    return result;
  }

  write(path: string, body: Readable, opts?: WriteOptions): Promise<EntryInfo> {
    return this.run(opts, () => this.inner.write(path, body, opts));
  }

  mkdir(path: string, opts?: OpOptions): Promise<void> {
    return this.run(opts, () => this.inner.mkdir(path, opts));
  }

  delete(path: string, opts?: OpOptions): Promise<void> {
    return this.run(opts, () => this.inner.delete(path, opts));
  }

  move(from: string, to: string, opts?: TransferOptions): Promise<void> {
    return this.run(opts, () => this.inner.move(from, to, opts));
  }

  copy(from: string, to: string, opts?: TransferOptions): Promise<void> {
    return this.run(opts, () => this.inner.copy(from, to, opts));
  }

  /** The inner backend is shared (other users, other sessions): closing it is its owner's job. */
  async close(): Promise<void> {}
}

function releaseOnClose(body: Readable, release: () => void): void {
  if (body.destroyed || body.closed) {
    release();
    return;
  }
  body.once('close', release);
  // Streams made with emitClose: false never emit 'close'.
  body.once('end', () => setImmediate(release));
  body.once('error', release);
}
