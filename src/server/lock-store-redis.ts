// LockStore on Redis for several gateway instances sharing one store: each mount's
// locks live in one hash '<ns>::locks:<mountId>' (field = token, value =
// '<expiresAt> <timeoutSeconds>\n<json>'), and every operation is one Lua script, so
// conflict check + insert is atomic across processes. Expiry uses the Redis clock
// (TIME) so instances with skewed clocks agree. Must not touch the backend.
import type { Keyv } from 'keyv';
import { davError, isDavcryptError } from '../errors.js';
import { changeMarkerOf, luaScript, redisStoreOf, type RedisStoreHandle } from '../store.js';
import { createStoreMutex } from '../store-mutex.js';
import { limitExceeded } from './limits.js';
import { KeyvLockStore, type AcquireOptions, type LockRecord, type LockStore } from './lock-store.js';
import { mountStateKey, type MountStateId } from '../users/mount-state.js';

// Shared Lua helpers: `now` (ms, Redis clock), loadLive() (prunes expired entries),
// touch() (key TTL = latest expiry), inside() (= isSameOrInside in backends/paths.ts).
const PRELUDE = `
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function loadLive()
  local all = redis.call('HGETALL', key)
  local live = {}
  for i = 1, #all, 2 do
    local exp, timeout, json = string.match(all[i + 1], '^(%d+) (%d+)\\n(.*)$')
    exp = tonumber(exp)
    if exp and exp > now then
      live[#live + 1] = { token = all[i], exp = exp, timeout = tonumber(timeout), json = json, raw = all[i + 1] }
    else
      redis.call('HDEL', key, all[i])
    end
  end
  return live
end
local function encode(exp, timeout, json)
  return string.format('%.0f %d\\n', exp, timeout) .. json
end
local function touch(live)
  local maxExp = 0
  for _, l in ipairs(live) do if l.exp > maxExp then maxExp = l.exp end end
  if maxExp > 0 then redis.call('PEXPIREAT', key, string.format('%.0f', maxExp)) end
end
local function inside(outer, inner)
  return inner == outer or outer == '/' or string.sub(inner, 1, #outer + 1) == outer .. '/'
end
`;

/** ARGV: token, timeoutSeconds, json, maxPerPrincipal (0: unbounded). Returns {1, expiresAt}, {0, conflictingPath} or {2, held}. */
const ACQUIRE = luaScript(`${PRELUDE}
local want = cjson.decode(ARGV[3])
local live = loadLive()
for _, l in ipairs(live) do
  local r = cjson.decode(l.json)
  local overlap = r.path == want.path
    or (r.depth == 'infinity' and inside(r.path, want.path))
    or (want.depth == 'infinity' and inside(want.path, r.path))
  if overlap and (r.scope == 'exclusive' or want.scope == 'exclusive') then
    return {0, r.path}
  end
end
local maxHeld = tonumber(ARGV[4]) or 0
if maxHeld > 0 then
  local held = 0
  for _, l in ipairs(live) do
    if cjson.decode(l.json).principal == want.principal then held = held + 1 end
  end
  if held >= maxHeld then return {2, tostring(held)} end
end
local timeout = tonumber(ARGV[2])
local exp = now + timeout * 1000
redis.call('HSET', key, ARGV[1], encode(exp, timeout, ARGV[3]))
live[#live + 1] = { exp = exp }
touch(live)
return {1, string.format('%.0f', exp)}
`);

/** ARGV: token, timeoutSeconds. Returns the new raw value, or nil when unknown/expired. */
const REFRESH = luaScript(`${PRELUDE}
local live = loadLive()
for _, l in ipairs(live) do
  if l.token == ARGV[1] then
    local timeout = tonumber(ARGV[2])
    l.exp = now + timeout * 1000
    local raw = encode(l.exp, timeout, l.json)
    redis.call('HSET', key, l.token, raw)
    touch(live)
    return raw
  end
end
return false
`);

/** ARGV: token. Returns 1 when a live lock was removed, else 0. */
const RELEASE = luaScript(`${PRELUDE}
loadLive()
return redis.call('HDEL', key, ARGV[1])
`);

/** ARGV: path. Removes live locks rooted at or below it; returns how many. */
const REMOVE_UNDER = luaScript(`${PRELUDE}
local n = 0
for _, l in ipairs(loadLive()) do
  if inside(ARGV[1], cjson.decode(l.json).path) then
    redis.call('HDEL', key, l.token)
    n = n + 1
  end
end
return n
`);

/** Returns the raw values of the live locks. */
const LIST = luaScript(`${PRELUDE}
local out = {}
for _, l in ipairs(loadLive()) do out[#out + 1] = l.raw end
return out
`);

function parseRaw(raw: string): LockRecord {
  const m = /^(\d+) (\d+)\n([\s\S]*)$/.exec(raw);
  if (!m) throw davError('DC_ERR_INTERNAL', 'lock store: malformed lock entry');
  return { ...(JSON.parse(m[3]!) as Omit<LockRecord, 'expiresAt' | 'timeoutSeconds'>), timeoutSeconds: Number(m[2]), expiresAt: Number(m[1]) };
}

/** The fields kept in the JSON part (expiry and timeout live in the prefix). */
function jsonOf(lock: LockRecord): string {
  const { token, path, scope, depth, ownerXml, principal } = lock;
  return JSON.stringify({ token, path, scope, depth, ...(ownerXml !== undefined ? { ownerXml } : {}), principal });
}

function wholeSeconds(seconds: number): number {
  return Math.max(1, Math.floor(seconds));
}

/**
 * LockStore over Redis Lua scripts: atomic across every instance sharing the Redis store.
 * `acquire` ignores the caller's `expiresAt` and returns the record with the Redis-clock
 * expiry. All methods throw DC_ERR_INTERNAL when Redis fails; acquire DC_ERR_LOCKED on conflict.
 */
export class RedisLockStore implements LockStore {
  constructor(private readonly redis: RedisStoreHandle) {}

  private key(mountId: MountStateId): string {
    return `${this.redis.keyPrefix}locks:${mountStateKey(mountId)}`;
  }

  private async run(script: ReturnType<typeof luaScript>, mountId: MountStateId, args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalScript(script, [this.key(mountId)], args);
    } catch (err) {
      if (isDavcryptError(err)) throw err;
      throw davError('DC_ERR_INTERNAL', `lock store: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }

  async list(mountId: MountStateId): Promise<LockRecord[]> {
    const raws = (await this.run(LIST, mountId, [])) as string[];
    return raws.map(parseRaw);
  }

  async acquire(mountId: MountStateId, lock: LockRecord, opts: AcquireOptions = {}): Promise<LockRecord> {
    const timeoutSeconds = wholeSeconds(lock.timeoutSeconds);
    const max = opts.maxPerPrincipal ?? 0;
    const [ok, value] = (await this.run(ACQUIRE, mountId, [lock.token, String(timeoutSeconds), jsonOf(lock), String(max)])) as [number, string];
    if (ok === 2) throw limitExceeded('locksPerUser', `lock number ${Number(value) + 1} of one user in this mount`, max);
    if (ok !== 1) throw davError('DC_ERR_LOCKED', 'the resource is already locked', { details: { path: lock.path, lockRoot: value } });
    return { ...lock, timeoutSeconds, expiresAt: Number(value) };
  }

  async refresh(mountId: MountStateId, token: string, timeoutSeconds: number): Promise<LockRecord | undefined> {
    const raw = (await this.run(REFRESH, mountId, [token, String(wholeSeconds(timeoutSeconds))])) as string | null;
    return raw ? parseRaw(raw) : undefined;
  }

  async release(mountId: MountStateId, token: string): Promise<boolean> {
    return ((await this.run(RELEASE, mountId, [token])) as number) === 1;
  }

  async removeUnder(mountId: MountStateId, path: string): Promise<void> {
    await this.run(REMOVE_UNDER, mountId, [path]);
  }
}

/**
 * The lock store that fits a store made by createStore: RedisLockStore for redis://
 * (several instances), else KeyvLockStore under the store mutex (the processes sharing a sqlite file).
 */
export function createLockStore(store: Keyv): LockStore {
  const redis = redisStoreOf(store);
  // sqlite://: the lease mutex in the file, so every worker process of `davcrypt serve` agrees.
  // The change marker lets each process keep a mount's lock list until any process changes a lock.
  return redis ? new RedisLockStore(redis) : new KeyvLockStore(store, Date.now, createStoreMutex(store), changeMarkerOf(store, 'locks'));
}
