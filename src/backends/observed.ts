// ObservedBackend: a decorator that times every Backend call and publishes it
// (src/events.ts, channel davcrypt:backend-call) with a low-cardinality label set:
// configured mount, backend type, method, outcome. It changes nothing else: same
// results, same errors, same optional methods and capabilities as the wrapped backend.
// A read() is timed until its answer starts (headers), not until the body is drained.
import type { Readable } from 'node:stream';
import { channels, type BackendCallEvent } from '../events.js';
import type {
  Backend, BackendCapabilities, EntryInfo, OpOptions, QuotaInfo, ReadOptions, ReadResult, TransferOptions, WriteOptions,
} from './types.js';

export interface ObservedLabels {
  /** Configured mount path ('/', '/team'). */
  mount: string;
  /** 'local' | 'webdav' | ... */
  backend: string;
}

export class ObservedBackend implements Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly listWithSelf?: Backend['listWithSelf'];
  readonly listEach?: Backend['listEach'];
  readonly setModified?: Backend['setModified'];
  readonly quota?: Backend['quota'];

  constructor(readonly inner: Backend, private readonly labels: ObservedLabels) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    // Optional methods exist here exactly when they exist on the wrapped backend (callers test for them).
    if (inner.listWithSelf) this.listWithSelf = (path: string, opts?: OpOptions) => this.timed('list', () => inner.listWithSelf!(path, opts));
    if (inner.listEach) {
      this.listEach = (path: string, onEntry: (entry: EntryInfo, self: boolean) => void, opts?: OpOptions) =>
        this.timed('list', () => inner.listEach!(path, onEntry, opts));
    }
    if (inner.setModified) this.setModified = (path: string, mtime: Date, opts?: OpOptions) => this.timed('setModified', () => inner.setModified!(path, mtime, opts));
    if (inner.quota) this.quota = (path: string, opts?: OpOptions): Promise<QuotaInfo> => this.timed('quota', () => inner.quota!(path, opts));
  }

  stat(path: string, opts?: OpOptions): Promise<EntryInfo> {
    return this.timed('stat', () => this.inner.stat(path, opts));
  }
  list(path: string, opts?: OpOptions): Promise<EntryInfo[]> {
    return this.timed('list', () => this.inner.list(path, opts));
  }
  read(path: string, opts?: ReadOptions): Promise<ReadResult> {
    return this.timed('read', () => this.inner.read(path, opts));
  }
  write(path: string, body: Readable, opts?: WriteOptions): Promise<EntryInfo> {
    return this.timed('write', () => this.inner.write(path, body, opts));
  }
  mkdir(path: string, opts?: OpOptions): Promise<void> {
    return this.timed('mkdir', () => this.inner.mkdir(path, opts));
  }
  delete(path: string, opts?: OpOptions): Promise<void> {
    return this.timed('delete', () => this.inner.delete(path, opts));
  }
  move(from: string, to: string, opts?: TransferOptions): Promise<void> {
    return this.timed('move', () => this.inner.move(from, to, opts));
  }
  copy(from: string, to: string, opts?: TransferOptions): Promise<void> {
    return this.timed('copy', () => this.inner.copy(from, to, opts));
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  private timed<T>(operation: string, call: () => Promise<T>): Promise<T> {
    if (!channels.backendCall.hasSubscribers) return call();
    const started = process.hrtime.bigint();
    const report = (outcome: string) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      channels.backendCall.publish({ ...this.labels, operation, outcome, seconds } satisfies BackendCallEvent);
    };
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (err) {
      report(outcomeOf(err));
      throw err;
    }
    return pending.then(
      (value) => {
        report('ok');
        return value;
      },
      (err: unknown) => {
        report(outcomeOf(err));
        throw err;
      },
    );
  }
}

/** The error's DC_ERR code: a bounded set, so it is safe as a metric label. */
function outcomeOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('DC_ERR_') ? code : 'DC_ERR_INTERNAL';
}

/** Wraps `backend` so its calls are published; see ObservedBackend. */
export function observeBackend(backend: Backend, labels: ObservedLabels): Backend {
  return new ObservedBackend(backend, labels);
}
