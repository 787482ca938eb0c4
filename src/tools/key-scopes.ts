// Which keys decrypt which part of a tree: the mount at the walk's start and any
// nested mount (a folder with its own `.davcrypt/keyring.json`, e.g. a shared
// mount inside a home) each form a scope; a file takes its keys from the nearest
// scope above it. Reads keyrings only; holds unwrapped keys in memory.
import { isSameOrInside, type Backend } from '../backends/index.js';
import { isDavcryptError, toDavcryptError, type DavcryptError } from '../errors.js';
import { keyringPathOf, readKeyringAt, type KeyUnlocker, type UnlockedKeyring } from './identity-keys.js';

/** What entering a folder found: a keyring that opened, one that did not, or none. */
export type ScopeOutcome =
  | { root: string; status: 'opened'; keyCount: number; holdsCurrent: boolean }
  | { root: string; status: 'failed'; error: DavcryptError }
  | { root: string; status: 'none' };

export class KeyScopes {
  private readonly opened = new Map<string, UnlockedKeyring>();
  private readonly failed = new Map<string, DavcryptError>();

  constructor(private readonly backend: Backend, private readonly unlocker: KeyUnlocker) {}

  /**
   * Reads and opens the keyring of the mount rooted at `dir`, if any. Never throws for a keyring
   * that does not open (the outcome says why); throws DC_ERR_ABORTED and backend transport errors.
   */
  async enter(dir: string, signal?: AbortSignal): Promise<ScopeOutcome> {
    let keyring;
    try {
      keyring = await readKeyringAt(this.backend, dir, signal);
    } catch (err) {
      const e = toDavcryptError(err);
      if (e.code !== 'DC_ERR_KEYRING_INVALID') throw e;
      this.failed.set(dir, e);
      return { root: dir, status: 'failed', error: e };
    }
    if (!keyring) return { root: dir, status: 'none' };
    try {
      const unlocked = await this.unlocker.unlock(keyring);
      this.opened.set(dir, unlocked);
      return { root: dir, status: 'opened', keyCount: unlocked.keys.size, holdsCurrent: unlocked.holdsCurrent };
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_ABORTED')) throw err;
      const e = toDavcryptError(err);
      this.failed.set(dir, e);
      return { root: dir, status: 'failed', error: e };
    }
  }

  /** Registers keys unlocked elsewhere (e.g. from the gateway's store) for the mount rooted at `root`. */
  addOpened(root: string, unlocked: UnlockedKeyring): void {
    this.opened.set(root, unlocked);
  }

  /** The outcome recorded for a scope root (e.g. one registered with addOpened). */
  outcomeOf(root: string): ScopeOutcome {
    const opened = this.opened.get(root);
    if (opened) return { root, status: 'opened', keyCount: opened.keys.size, holdsCurrent: opened.holdsCurrent };
    const error = this.failed.get(root);
    return error ? { root, status: 'failed', error } : { root, status: 'none' };
  }

  /** Root of the nearest scope (opened or failed) holding `path`, or undefined. */
  scopeOf(path: string): string | undefined {
    let best: string | undefined;
    for (const root of [...this.opened.keys(), ...this.failed.keys()]) {
      if (isSameOrInside(root, path) && (best === undefined || root.length > best.length)) best = root;
    }
    return best;
  }

  /** The mount key for a file: from its nearest scope, else from any opened scope (ids are random). */
  resolve(path: string, keyId: Buffer): Buffer | undefined {
    const hex = keyId.toString('hex');
    const root = this.scopeOf(path);
    const near = root === undefined ? undefined : this.opened.get(root)?.keys.get(hex);
    if (near) return near;
    for (const s of this.opened.values()) {
      const k = s.keys.get(hex);
      if (k) return k;
    }
    return undefined;
  }

  /** When a file's key was not found: the failure of its scope's keyring, if that is why. */
  scopeFailure(path: string): { root: string; keyringPath: string; error: DavcryptError } | undefined {
    const root = this.scopeOf(path);
    const error = root === undefined ? undefined : this.failed.get(root);
    return error && root !== undefined ? { root, keyringPath: keyringPathOf(root), error } : undefined;
  }

  /** Number of keyrings that opened. */
  get openedCount(): number {
    return this.opened.size;
  }

  /** Drops every unwrapped key (best effort) and the identity's private keys. */
  wipe(): void {
    for (const s of this.opened.values()) for (const k of s.keys.values()) k.fill(0);
    this.opened.clear();
    this.unlocker.wipe();
  }
}
