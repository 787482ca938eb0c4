// Which keys decrypt which part of a tree: the mount at the walk's start and any
// nested mount (a folder with its own `.davcrypt/keyring.json`, e.g. a shared
// mount inside a home) each form a scope; a file takes its keys from the nearest
// scope above it. Only keys authenticated for the identity (its own keyring tag)
// are used; a file under a key that merely opened is refused with
// DC_ERR_KEY_UNAUTHENTICATED and listed, unless the caller trusts such keys
// (--trust-unauthenticated). Reads keyrings only; holds unwrapped keys in memory.
import { isSameOrInside, type Backend } from '../backends/index.js';
import { davError, isDavcryptError, toDavcryptError, type DavcryptError } from '../errors.js';
import { keyringPathOf, readKeyringAt, type KeyUnlocker, type UnlockedKeyring } from './identity-keys.js';

/** What entering a folder found: a keyring that opened, one that did not, or none. */
export type ScopeOutcome =
  | { root: string; status: 'opened'; keyCount: number; holdsCurrent: boolean; unauthenticatedCount: number }
  | { root: string; status: 'failed'; error: DavcryptError }
  | { root: string; status: 'none' };

/** A file whose key opened but is not authenticated for the identity. */
export interface UnauthenticatedUse {
  path: string;
  keyId: string;
  /** True when it was decrypted anyway (trustUnauthenticated); false when it was skipped. */
  used: boolean;
}

export interface KeyScopesOptions {
  /** Use keys that opened without a valid tag of the identity (--trust-unauthenticated). Default false. */
  trustUnauthenticated?: boolean;
}

export class KeyScopes {
  private readonly opened = new Map<string, UnlockedKeyring>();
  private readonly failed = new Map<string, DavcryptError>();
  private readonly unauthenticatedUses = new Map<string, UnauthenticatedUse>();
  private readonly trustUnauthenticated: boolean;

  constructor(private readonly backend: Backend, private readonly unlocker: KeyUnlocker, options: KeyScopesOptions = {}) {
    this.trustUnauthenticated = options.trustUnauthenticated ?? false;
  }

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
      return { root: dir, status: 'opened', keyCount: unlocked.keys.size, holdsCurrent: unlocked.holdsCurrent, unauthenticatedCount: unlocked.unauthenticated.size };
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
    if (opened) return { root, status: 'opened', keyCount: opened.keys.size, holdsCurrent: opened.holdsCurrent, unauthenticatedCount: opened.unauthenticated.size };
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

  /**
   * The mount key for a file: from its nearest scope, else from any opened scope (ids are random),
   * authenticated keys only. A key that opened without a valid tag is returned only when
   * trustUnauthenticated; otherwise throws DC_ERR_KEY_UNAUTHENTICATED. Either way the file is
   * recorded (unauthenticatedFiles). Undefined when no scope holds the key.
   */
  resolve(path: string, keyId: Buffer): Buffer | undefined {
    const hex = keyId.toString('hex');
    const root = this.scopeOf(path);
    const nearScope = root === undefined ? undefined : this.opened.get(root);
    const near = nearScope?.keys.get(hex);
    if (near) return near;
    for (const s of this.opened.values()) {
      const k = s.keys.get(hex);
      if (k) return k;
    }
    const scopes = nearScope ? [nearScope, ...this.opened.values()] : [...this.opened.values()];
    for (const s of scopes) {
      const k = s.unauthenticated.get(hex);
      if (!k) continue;
      this.unauthenticatedUses.set(path, { path, keyId: hex, used: this.trustUnauthenticated });
      if (this.trustUnauthenticated) return k;
      throw davError(
        'DC_ERR_KEY_UNAUTHENTICATED',
        `key ${hex} opened with identity ${this.unlocker.identity}, but no keyring tag of it vouches for the key (planted, or a keyring older than format 2); skipped (--trust-unauthenticated uses it)`,
        { details: { path, keyId: hex } },
      );
    }
    return undefined;
  }

  /** Files whose key was not authenticated for the identity (skipped, or used when trusted anyway). */
  unauthenticatedFiles(): UnauthenticatedUse[] {
    return [...this.unauthenticatedUses.values()];
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
    for (const s of this.opened.values()) for (const k of [...s.keys.values(), ...s.unauthenticated.values()]) k.fill(0);
    this.opened.clear();
    this.unlocker.wipe();
  }
}
