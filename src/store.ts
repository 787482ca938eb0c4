// Opens the gateway's key/value store from a keyv URL: sqlite://PATH (embedded
// default; the parent folder is created), redis://... (shared by several
// instances), memory:// (tests). Errors throw (throwOnErrors). Knows nothing of
// what is stored: users/keys/server each keep their own key prefixes. For redis://
// it also hands out the raw connection (redisStoreOf) for atomic Lua scripts, and for
// sqlite:// keyv's connection (sqliteStoreOf) for atomic SQL.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Keyv from 'keyv';
import { davError } from './errors.js';

export const DEFAULT_NAMESPACE = 'davcrypt';

/**
 * Creates a Keyv for the URL. Throws DC_ERR_CONFIG for an unknown scheme or a sqlite
 * folder that cannot be created. Call `closeStore` on shutdown.
 */
export async function createStore(url: string, namespace: string = DEFAULT_NAMESPACE): Promise<Keyv> {
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
    sqliteAdapters.set(keyv, { adapter: adapter as unknown as SqliteAdapter, namespace });
  } else if (scheme === 'redis' || scheme === 'rediss') {
    const { default: KeyvRedis } = await import('@keyv/redis');
    const adapter = new KeyvRedis(url, { throwOnConnectError: true, connectionTimeout: 5_000 });
    keyv = new Keyv({ store: adapter, namespace, throwOnErrors: true, useKeyPrefix: false });
    redisAdapters.set(keyv, adapter);
  } else {
    throw davError('DC_ERR_CONFIG', `store: unsupported URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}; use sqlite://PATH, redis://HOST:PORT or memory://`);
  }
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

/** Disconnects the store (sqlite handle, redis connection); safe to call twice. */
export async function closeStore(store: Keyv): Promise<void> {
  if (closed.has(store)) return;
  closed.add(store);
  await store.disconnect();
}

const closed = new WeakSet<Keyv>();
/** sqlite:// stores made by createStore → their adapter (for sqliteStoreOf). */
const sqliteAdapters = new WeakMap<Keyv, { adapter: SqliteAdapter; namespace: string }>();
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
      if (closed.has(store)) throw new Error('the store is closed'); // getClient() would reconnect
      const client = (await adapter.getClient()) as ScriptCapableClient;
      try {
        return await client.evalSha(script.sha1, { keys, arguments: args });
      } catch (err) {
        if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
        return client.eval(script.source, { keys, arguments: args });
      }
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
      if (closed.has(store)) throw new Error('the store is closed');
      return (await found.adapter.query(sql, ...params)) as Record<string, unknown>[];
    },
  };
}
