// WebDAV write locks: the record shape, the overlap/conflict rules, and the
// LockStore interface with a keyv implementation (one entry per mount under
// 'lock:<mountId>', TTL = latest expiry, check-then-set under a mutex: the store mutex
// (a lease row in the sqlite file) on sqlite://, so the worker processes of one gateway
// (server.workers) agree; in-process on memory://. Several instances on redis:// use
// RedisLockStore (lock-store-redis.ts).
// Must not touch the backend; paths here are backend paths of one mount.
import { randomUUID } from 'node:crypto';
import type { Keyv } from 'keyv';
import { isSameOrInside, parentPath } from '../backends/paths.js';
import { davError } from '../errors.js';
import { KeyedMutex } from '../mutex.js';
import type { ChangeMarker } from '../store.js';
import type { DistributedMutex } from '../store-mutex.js';
import { limitExceeded } from './limits.js';
import { mountStateKey, type MountStateId } from '../users/mount-state.js';


export type LockScope = 'exclusive' | 'shared';
export type LockDepth = '0' | 'infinity';

export interface LockRecord {
  /** `opaquelocktoken:<uuid v4>`. */
  token: string;
  /** Backend path of the lock root. */
  path: string;
  scope: LockScope;
  depth: LockDepth;
  /** The client's <owner> element, serialized, if any. */
  ownerXml?: string;
  /** User who took the lock: only her requests may use its token (RFC 4918 §6.4). */
  principal: string;
  timeoutSeconds: number;
  /** Epoch ms. */
  expiresAt: number;
}

/** Longest lock the gateway grants; `Infinite` and larger requests are cut to this. */
export const MAX_LOCK_SECONDS = 3600;
export const DEFAULT_LOCK_SECONDS = 3600;

export function newLockToken(): string {
  return `opaquelocktoken:${randomUUID()}`;
}

/** Does lock `l` cover resource `path` (its root, or below an infinity lock)? */
export function lockCovers(l: LockRecord, path: string): boolean {
  return l.path === path || (l.depth === 'infinity' && isSameOrInside(l.path, path));
}

/** Do the two (root, depth) scopes share any resource? */
function scopesOverlap(a: { path: string; depth: LockDepth }, b: { path: string; depth: LockDepth }): boolean {
  if (a.path === b.path) return true;
  if (a.depth === 'infinity' && isSameOrInside(a.path, b.path)) return true;
  if (b.depth === 'infinity' && isSameOrInside(b.path, a.path)) return true;
  return false;
}

/** Locks that a new lock request would conflict with (exclusive vs anything, shared vs exclusive). */
export function conflictingLocks(existing: LockRecord[], wanted: { path: string; depth: LockDepth; scope: LockScope }): LockRecord[] {
  return existing.filter((l) => scopesOverlap(l, wanted) && (l.scope === 'exclusive' || wanted.scope === 'exclusive'));
}

/**
 * Locks that guard a change to `path`: locks covering it; with `membership`, locks on its
 * parent (adding/removing a member changes the parent); with `subtree`, locks anywhere below.
 */
export function guardingLocks(locks: LockRecord[], path: string, opts: { membership?: boolean; subtree?: boolean }): LockRecord[] {
  const parent = parentPath(path);
  return locks.filter((l) =>
    lockCovers(l, path) ||
    (opts.membership && path !== '/' && l.path === parent) ||
    (opts.subtree && isSameOrInside(path, l.path)));
}

/**
 * Lock state of all mounts. Implementations must make `acquire` atomic across every
 * gateway instance sharing the store (in-process mutex here; Redis `SET NX PX` / Lua for
 * several instances). All methods throw DC_ERR_INTERNAL when the store fails.
 */
export interface LockStore {
  /** Unexpired locks of a mount. */
  list(mountId: MountStateId): Promise<LockRecord[]>;
  /**
   * Adds `lock` unless it conflicts; throws DC_ERR_LOCKED (423) on conflict, and
   * DC_ERR_LIMIT_EXCEEDED when its principal already holds `maxPerPrincipal` live locks here.
   */
  acquire(mountId: MountStateId, lock: LockRecord, opts?: AcquireOptions): Promise<LockRecord>;
  /** Extends a lock; undefined when the token is unknown or expired. */
  refresh(mountId: MountStateId, token: string, timeoutSeconds: number): Promise<LockRecord | undefined>;
  /** Removes a lock; false when the token is unknown. */
  release(mountId: MountStateId, token: string): Promise<boolean>;
  /** Removes every lock rooted at or below `path` (after DELETE / MOVE). */
  removeUnder(mountId: MountStateId, path: string): Promise<void>;
}

export interface AcquireOptions {
  /** Live locks one principal may hold in the mount (default unbounded). */
  maxPerPrincipal?: number;
}

/** Throws DC_ERR_LIMIT_EXCEEDED when `principal` holds `max` or more of `locks`. */
export function checkLockQuota(locks: LockRecord[], principal: string, max: number | undefined): void {
  if (max === undefined) return;
  const held = locks.reduce((n, l) => n + (l.principal === principal ? 1 : 0), 0);
  if (held >= max) throw limitExceeded('locksPerUser', `lock number ${held + 1} of one user in this mount`, max);
}

/** Longest a lock list read is kept while the change marker says nothing changed (a writer that died between its write and its bump). */
export const LOCK_LIST_KEEP_MS = 2000;

/**
 * LockStore over keyv: one array per mount, mutex-guarded read-modify-write. Atomic across
 * the processes that share `mutex` (default: this process only). With a change marker shared by
 * those processes (store.ts changeMarkerOf), `list` keeps what it read until any of them changes a
 * lock (or LOCK_LIST_KEEP_MS pass): a PUT on a mount without locks then costs no store read.
 */
export class KeyvLockStore implements LockStore {
  /** Per mount (by store key: ids are objects): the stored array as read, under which marker token, and when. */
  private readonly kept = new Map<string, { token: string; at: number; raw: LockRecord[] }>();

  constructor(
    private readonly store: Keyv,
    private readonly now: () => number = Date.now,
    private readonly mutex: Pick<DistributedMutex, 'run'> = new KeyedMutex(),
    private readonly marker?: ChangeMarker,
  ) {}

  private key(mountId: MountStateId): string {
    return `lock:${mountStateKey(mountId)}`;
  }

  private async load(mountId: MountStateId): Promise<LockRecord[]> {
    const raw = (await this.store.get(this.key(mountId))) as LockRecord[] | undefined;
    return this.live(Array.isArray(raw) ? raw : []);
  }

  /** Unexpired locks, as fresh objects (callers may change them, never the kept array). */
  private live(raw: LockRecord[]): LockRecord[] {
    const now = this.now();
    return raw.filter((l) => l.expiresAt > now).map((l) => ({ ...l }));
  }

  private async save(mountId: MountStateId, locks: LockRecord[]): Promise<void> {
    try {
      if (locks.length === 0) {
        await this.store.delete(this.key(mountId));
        return;
      }
      const ttl = Math.max(...locks.map((l) => l.expiresAt)) - this.now();
      await this.store.set(this.key(mountId), locks, Math.max(1000, ttl));
    } finally {
      // After the write is committed (or failed half way), before anyone is answered.
      this.kept.delete(this.key(mountId));
      this.marker?.bump();
    }
  }

  async list(mountId: MountStateId): Promise<LockRecord[]> {
    if (!this.marker) return this.load(mountId);
    // The token is read before the store: a change after this read shows as a new token next time.
    const key = this.key(mountId);
    const token = this.marker.read();
    const at = this.now();
    const kept = this.kept.get(key);
    if (kept && kept.token === token && at - kept.at < LOCK_LIST_KEEP_MS && at >= kept.at) return this.live(kept.raw);
    const raw = (await this.store.get(key)) as LockRecord[] | undefined;
    const stored = Array.isArray(raw) ? raw : [];
    this.kept.set(key, { token, at, raw: stored });
    return this.live(stored);
  }

  acquire(mountId: MountStateId, lock: LockRecord, opts: AcquireOptions = {}): Promise<LockRecord> {
    return this.mutex.run(this.key(mountId), async () => {
      const locks = await this.load(mountId);
      if (conflictingLocks(locks, lock).length > 0) {
        throw davError('DC_ERR_LOCKED', 'the resource is already locked', { details: { path: lock.path } });
      }
      checkLockQuota(locks, lock.principal, opts.maxPerPrincipal);
      locks.push(lock);
      await this.save(mountId, locks);
      return lock;
    });
  }

  refresh(mountId: MountStateId, token: string, timeoutSeconds: number): Promise<LockRecord | undefined> {
    return this.mutex.run(this.key(mountId), async () => {
      const locks = await this.load(mountId);
      const lock = locks.find((l) => l.token === token);
      if (!lock) return undefined;
      lock.timeoutSeconds = timeoutSeconds;
      lock.expiresAt = this.now() + timeoutSeconds * 1000;
      await this.save(mountId, locks);
      return lock;
    });
  }

  release(mountId: MountStateId, token: string): Promise<boolean> {
    return this.mutex.run(this.key(mountId), async () => {
      const locks = await this.load(mountId);
      const kept = locks.filter((l) => l.token !== token);
      if (kept.length === locks.length) return false;
      await this.save(mountId, kept);
      return true;
    });
  }

  removeUnder(mountId: MountStateId, path: string): Promise<void> {
    return this.mutex.run(this.key(mountId), async () => {
      const locks = await this.load(mountId);
      const kept = locks.filter((l) => !isSameOrInside(path, l.path));
      if (kept.length !== locks.length) await this.save(mountId, kept);
    });
  }
}
