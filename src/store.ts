// Opens the gateway's key/value store from a keyv URL: sqlite://PATH (embedded
// default; the parent folder is created), redis://... (shared by several
// instances), memory:// (tests). Errors throw (throwOnErrors). Knows nothing of
// what is stored: users/keys/server each keep their own key prefixes. For redis://
// it also hands out the raw connection (redisStoreOf) for atomic Lua scripts, and for
// sqlite:// keyv's connection (sqliteStoreOf) for atomic SQL.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants as fsConstants, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import Keyv from 'keyv';
import { davError, isDavcryptError } from './errors.js';

export const DEFAULT_NAMESPACE = 'davcrypt';

/**
 * Creates a Keyv for the URL. Throws DC_ERR_CONFIG for an unknown scheme or a sqlite
 * folder that cannot be created. Call `closeStore` on shutdown.
 */
export async function createStore(url: string, namespace: string = DEFAULT_NAMESPACE, options: StoreOptions = {}): Promise<Keyv> {
  const scheme = /^([a-z]+):\/\//.exec(url)?.[1];
  let keyv: Keyv;
  if (scheme === 'memory') {
    keyv = new Keyv({ namespace, throwOnErrors: true });
  } else if (scheme === 'sqlite') {
    const file = url.slice('sqlite://'.length);
    if (!file) throw davError('DC_ERR_CONFIG', 'store: sqlite:// needs a file path, e.g. sqlite://./data/davcrypt.sqlite');
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw davError('DC_ERR_CONFIG', `store: cannot create folder for ${file}: ${(err as Error).message}`, { cause: err });
    }
    const { default: KeyvSqlite } = await import('@keyv/sqlite');
    const adapter = new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: 10_000 });
    keyv = new Keyv({ store: adapter, namespace, throwOnErrors: true });
    sqliteAdapters.set(keyv, { adapter: adapter as unknown as SqliteAdapter, namespace, file });
  } else if (scheme === 'redis' || scheme === 'rediss') {
    const { default: KeyvRedis } = await import('@keyv/redis');
    // No offline queue: while Redis is down a command fails at once (503) instead of waiting for a
    // reconnect that may never come; the client keeps reconnecting in the background.
    const adapter = new KeyvRedis(
      { url, disableOfflineQueue: true, socket: { connectTimeout: 5_000, reconnectStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000) } },
      // throwOnErrors: without it a failed command reads as "no such key" (no user, no lock).
      { throwOnConnectError: true, throwOnErrors: true, connectionTimeout: 5_000 },
    );
    keyv = new Keyv({ store: adapter, namespace, throwOnErrors: true, useKeyPrefix: false });
    redisAdapters.set(keyv, adapter);
  } else {
    throw davError('DC_ERR_CONFIG', `store: unsupported URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}; use sqlite://PATH, redis://HOST:PORT or memory://`);
  }
  // sqlite waits out a busy file by itself (busyTimeout 10 s): never cut it shorter than that.
  const opMs = Math.max(options.opTimeoutMs ?? DEFAULT_STORE_OP_MS, scheme === 'sqlite' ? 11_000 : 0);
  bounded.set(keyv, { scheme: scheme!, opMs });
  boundOperations(keyv, scheme!, opMs);
  // Fail at start rather than at the first login when the store is unreachable.
  try {
    await keyv.get('__davcrypt_probe__');
  } catch (err) {
    await closeStore(keyv).catch(() => undefined);
    throw davError('DC_ERR_CONFIG', `store: cannot open ${scheme} store: ${(err as Error).message}`, { cause: err });
  }
  if (scheme === 'sqlite') {
    try {
      chmodSync(url.slice('sqlite://'.length), 0o600); // holds password envelopes: owner only
    } catch {
      // best effort (e.g. a file owned by another user that we may still read)
    }
  }
  return keyv;
}

export interface StoreOptions {
  /** Longest one store operation may take before it fails with DC_ERR_STORE_UNAVAILABLE (default 5 s). */
  opTimeoutMs?: number;
}

export const DEFAULT_STORE_OP_MS = 5_000;

/** Stores made by createStore → their scheme and operation bound (for storeHealth and the raw handles). */
const bounded = new WeakMap<Keyv, { scheme: string; opMs: number }>();

/** Rejects with DC_ERR_STORE_UNAVAILABLE when `op` fails or takes longer than `ms`; DavcryptErrors pass through. */
export async function withStoreDeadline<T>(scheme: string, what: string, ms: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      op(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(davError('DC_ERR_STORE_UNAVAILABLE', `store (${scheme}) ${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } catch (err) {
    if (isDavcryptError(err)) throw err;
    // Never the URL: it may carry a Redis password.
    throw davError('DC_ERR_STORE_UNAVAILABLE', `store (${scheme}) ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Every Keyv operation fails within `ms` instead of hanging while the store is away (a stopped
 * Redis, a locked sqlite file): requests then answer 503 in seconds, and say why in the log.
 */
function boundOperations(keyv: Keyv, scheme: string, ms: number): void {
  const target = keyv as unknown as Record<string, unknown>;
  for (const name of ['get', 'getMany', 'getRaw', 'getManyRaw', 'set', 'setMany', 'setRaw', 'delete', 'deleteMany', 'has', 'hasMany', 'clear']) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = (...args: unknown[]) => withStoreDeadline(scheme, name, ms, () => (original as (...a: unknown[]) => Promise<unknown>).apply(keyv, args));
  }
}

/** Health of the store: one read with a short deadline. Never throws. */
export async function storeHealth(store: Keyv, timeoutMs = 2_000): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = Date.now();
  try {
    if (closed.has(store)) throw davError('DC_ERR_STORE_UNAVAILABLE', 'the store is closed');
    const scheme = bounded.get(store)?.scheme ?? 'store';
    await withStoreDeadline(scheme, 'health', timeoutMs, () => store.get('__davcrypt_probe__'));
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, error: (err as Error).message };
  }
}

/** Disconnects the store (sqlite handle, redis connection); safe to call twice. */
export async function closeStore(store: Keyv): Promise<void> {
  if (closed.has(store)) return;
  closed.add(store);
  for (const marker of markers.get(store)?.values() ?? []) marker.close?.();
  await store.disconnect();
}

const closed = new WeakSet<Keyv>();
/** sqlite:// stores made by createStore → their adapter (for sqliteStoreOf). */
const sqliteAdapters = new WeakMap<Keyv, { adapter: SqliteAdapter; namespace: string; file: string }>();
interface SqliteAdapter {
  query(sql: string, ...params: unknown[]): Promise<unknown[]>;
  opts: { table: string };
}
/** redis:// stores made by createStore → their adapter (for redisStoreOf). */
const redisAdapters = new WeakMap<Keyv, { getClient(): Promise<unknown>; namespace?: string; keyPrefixSeparator: string }>();

/** What store-level atomic helpers (lock store, store mutex) need from a redis:// store. */
export interface RedisStoreHandle {
  /** Runs a Lua script (EVALSHA, loading it on NOSCRIPT); throws what the client throws. */
  evalScript(script: RedisLuaScript, keys: string[], args: string[]): Promise<unknown>;
  /** Prefix that namespaces raw keys like keyv's own ('davcrypt::'). */
  keyPrefix: string;
}

/** A Lua script with its SHA1, made once per module. */
export interface RedisLuaScript {
  source: string;
  sha1: string;
}

export function luaScript(source: string): RedisLuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

interface ScriptCapableClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * The raw Redis connection behind a redis:// store (shared with keyv), or undefined for
 * sqlite:// and memory:// stores. Script keys must each live in one cluster slot.
 */
export function redisStoreOf(store: Keyv): RedisStoreHandle | undefined {
  const adapter = redisAdapters.get(store);
  if (!adapter) return undefined;
  const keyPrefix = adapter.namespace ? `${adapter.namespace}${adapter.keyPrefixSeparator}` : '';
  return {
    keyPrefix,
    async evalScript(script, keys, args) {
      if (closed.has(store)) throw davError('DC_ERR_STORE_UNAVAILABLE', 'the store is closed'); // getClient() would reconnect
      return withStoreDeadline('redis', 'script', bounded.get(store)?.opMs ?? DEFAULT_STORE_OP_MS, async () => {
        const client = (await adapter.getClient()) as ScriptCapableClient;
        try {
          return await client.evalSha(script.sha1, { keys, arguments: args });
        } catch (err) {
          if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
          return client.eval(script.source, { keys, arguments: args });
        }
      });
    },
  };
}

/** What store-level atomic helpers need from a sqlite:// store. */
export interface SqliteStoreHandle {
  /** Runs one SQL statement on keyv's connection (busy timeout 10 s); resolves to its rows. Throws sqlite errors. */
  query(sql: string, ...params: unknown[]): Promise<Record<string, unknown>[]>;
  /** keyv's table (key PRIMARY KEY, value TEXT); an identifier safe to splice into SQL. */
  table: string;
  /** Prefix keyv puts before its keys ('davcrypt:'); raw rows of helpers use it too. */
  keyPrefix: string;
}

/** The raw SQLite connection behind a sqlite:// store, or undefined for other stores. */
export function sqliteStoreOf(store: Keyv): SqliteStoreHandle | undefined {
  const found = sqliteAdapters.get(store);
  if (!found) return undefined;
  return {
    table: found.adapter.opts.table,
    keyPrefix: `${found.namespace}:`,
    async query(sql, ...params) {
      if (closed.has(store)) throw davError('DC_ERR_STORE_UNAVAILABLE', 'the store is closed');
      return withStoreDeadline('sqlite', 'query', bounded.get(store)?.opMs ?? 11_000,
        async () => (await found.adapter.query(sql, ...params)) as Record<string, unknown>[]);
    },
  };
}

/**
 * A cheap "did anything change?" signal shared by every process using one store, so a process may
 * keep what it read from the store until another one writes: `read()` returns a token that differs
 * after every `bump()` by any process. Writers bump after their write is committed and before they
 * answer; readers read the token before they read the store. No I/O beyond one 16-byte pread/pwrite.
 */
export interface ChangeMarker {
  read(): string;
  bump(): void;
  close?(): void;
}

const markers = new WeakMap<Keyv, Map<string, ChangeMarker>>();

/**
 * The change marker `name` of a store: for sqlite:// a 16-byte file next to the store file
 * (`<file>.<name>`, owner only), rewritten with random bytes on each bump; for memory:// a counter
 * (one process owns it). undefined for redis:// (several hosts: no shared file). A marker file that
 * cannot be opened reads differently every time, so callers simply never keep anything.
 */
export function changeMarkerOf(store: Keyv, name: string): ChangeMarker | undefined {
  if (redisAdapters.has(store)) return undefined;
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw davError('DC_ERR_INTERNAL', `bad change marker name ${name}`);
  let byName = markers.get(store);
  if (!byName) markers.set(store, (byName = new Map()));
  let marker = byName.get(name);
  if (!marker) {
    const sqlite = sqliteAdapters.get(store);
    marker = sqlite ? fileMarker(`${sqlite.file}.${name}`) : counterMarker();
    byName.set(name, marker);
  }
  return marker;
}

function counterMarker(): ChangeMarker {
  let n = 0;
  return { read: () => String(n), bump: () => { n += 1; } };
}

function fileMarker(path: string): ChangeMarker {
  let fd: number | undefined;
  let unusable = 0;
  const bytes = Buffer.alloc(16);
  const open = (): number | undefined => {
    if (fd === undefined) {
      try {
        fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600);
      } catch {
        return undefined;
      }
    }
    return fd;
  };
  return {
    read(): string {
      const f = open();
      try {
        if (f !== undefined) return bytes.toString('hex', 0, readSync(f, bytes, 0, 16, 0));
      } catch {
        // unreadable: fall through to a token that never repeats
      }
      unusable += 1;
      return `unusable ${unusable}`;
    },
    bump(): void {
      const f = open();
      // Not written: the readers of the other processes may keep stale state; they re-read at
      // least every few seconds (their own bound), and this process's readers see "unusable".
      if (f !== undefined) {
        try {
          writeSync(f, randomBytes(16), 0, 16, 0);
        } catch {
          // as above
        }
      }
    },
    close(): void {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
