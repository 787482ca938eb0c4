// The Authenticator and MountResolver the server calls (src/users/types.ts):
// one argon2id per fresh login, then a keyed in-memory login cache; failed
// logins throttled (a verified login from the cache never is; a fresh one takes a
// failure slot first, then waits for the bounded argon2 gate); per-session resolved
// mounts (encrypted mounts wrapped in EncryptingBackend with the unlocked keys).
// Never logs or stores passwords.
import { randomBytes } from 'node:crypto';
import { generateIdentityKeyPair, openIdentity, sealIdentity, type Argon2Params, type Envelope } from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import type Keyv from 'keyv';
import {
  createMountKeySet, formatMountId, keysEpoch, revokedUsers, sameMountId, type IdentityInfo, type KeyringService, type MasterKey,
  type MountId, type MountKey, type MountKeySet, type OpenIdentity,
} from '../keys/index.js';
import { EncryptingBackend, LimitedBackend, LruEncryptionMetaCache, RequestSlots, type Backend, type EncryptionMetaCache } from '../backends/index.js';
import type { Logger } from '../logging.js';
import { publishLogin } from '../events.js';
import type { ThrottleConfig } from '../config/types.js';
import { assertKeyPair, type AccountService } from './accounts.js';
import { LoginCache } from './login-cache.js';
import type { BackendLogin } from './backend-login.js';
import type { MountBackends } from './mount-backends.js';
import { isValidUserName, userIdentity } from './names.js';
import type { UserRecord } from './records.js';
import { Argon2Gate, busyError } from './argon2-gate.js';
import { LoginThrottle, type LoginAttempt } from './throttle.js';
import type { AuthenticatedUser, Authenticator, MountResolver, ResolvedMount } from './types.js';

export interface GatewayAuthenticatorOptions {
  accounts: AccountService;
  keyrings: KeyringService;
  backends: MountBackends;
  logger: Logger;
  argon2: Argon2Params;
  cacheIdleSeconds?: number;
  cacheMaxEntries?: number;
  /** A cached login re-reads the user record at most this often (0: every time). */
  recheckSeconds?: number;
  throttle?: ThrottleConfig;
  /** argon2 logins at once (default defaultArgon2Concurrency()) and waiting (default 32). */
  argon2Concurrency?: number;
  argon2Queue?: number;
  now?: () => number;
  /** The gateway store: enables revocation markers and the keys epoch (admin key changes drop cached logins). */
  store?: Keyv;
  /** Master-key mode: mount keys are opened with this key (the user's own wrap is the fallback). */
  master?: MasterKey;
  /** Backend operations one user may have in flight (timeouts.backendRequestsPerUser); unbounded when absent. */
  backendSlots?: { perUser: number; maxWaitMs: number };
  /** auth.provider: backend: passwords are checked by the backend; a user record is created at the first accepted login. */
  backendLogin?: BackendLogin;
}

/** Counters for tests and metrics. */
export interface LoginStats {
  /** Logins that ran argon2id (fresh or failed). */
  argon2: number;
  /** Logins answered from the cache. */
  cached: number;
  /** Current cache entries. */
  cacheSize: number;
}

interface Session {
  user: AuthenticatedUser;
  record: UserRecord;
  /** Dropped (zeroed) once the mounts are resolved, or when the session leaves the cache. */
  privateKey?: Buffer;
  checkedAt: number;
  /** Keys epoch at login; an admin key change bumps it and the session is dropped at the next recheck. */
  epoch: number;
  dropped: boolean;
  resolving: boolean;
  mounts?: Promise<ResolvedMount[]>;
  /** auth.provider: backend only: the password, re-checked with the backend every recheckSeconds. */
  backendPassword?: string;
}

export class GatewayAuthenticator implements Authenticator, MountResolver {
  private readonly options: GatewayAuthenticatorOptions;
  private readonly cache: LoginCache<Session>;
  private readonly throttle: LoginThrottle;
  private readonly gate: Argon2Gate;
  private readonly sessions = new WeakMap<AuthenticatedUser, Session>();
  private readonly pending = new Map<string, Promise<Session>>();
  private readonly now: () => number;
  private readonly recheckMs: number;
  private dummy?: Promise<Envelope>;
  /** Keyed by the mount id's string form. */
  private readonly metaCaches = new Map<string, EncryptionMetaCache>();
  /** One pool of backend slots per user name, shared by all her sessions and mounts. */
  private readonly userSlots = new Map<string, RequestSlots>();
  /** Unlocked keys behind each resolved encrypted mount (share links wrap a copy of the current key). */
  private readonly mountKeys = new WeakMap<ResolvedMount, MountKeySet>();
  private counters = { argon2: 0, cached: 0 };

  constructor(options: GatewayAuthenticatorOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.recheckMs = (options.recheckSeconds ?? 10) * 1000;
    this.throttle = new LoginThrottle(options.throttle, this.now, {
      store: options.store,
      onError: (err) => options.logger.warn('login throttle: could not settle a slot in the store (it lapses by itself)', { error: (err as Error)?.message ?? String(err) }),
    });
    this.gate = new Argon2Gate(options.argon2Concurrency, options.argon2Queue);
    this.cache = new LoginCache<Session>({
      idleMs: (options.cacheIdleSeconds ?? 900) * 1000,
      maxEntries: options.cacheMaxEntries ?? 1000,
      now: this.now,
      onDrop: (s) => dropSession(s),
    });
  }

  /** See Authenticator. Throws DC_ERR_UNAUTHORIZED, DC_ERR_TOO_MANY_REQUESTS; store/backend errors as they are. */
  async authenticate(username: string, password: string, clientAddress: string): Promise<AuthenticatedUser> {
    // The exact credentials of a verified login: never throttled, whatever fails elsewhere.
    const digest = this.cache.digest(username, password);
    const hit = this.cache.get(digest);
    if (hit && (await this.stillValid(hit))) {
      this.counters.cached++;
      return hit.user;
    }
    const key = digest.toString('hex');
    let login = this.pending.get(key);
    if (!login) {
      // Same credentials already being checked: share that check (and its slot).
      login = this.throttled(username, clientAddress, () => this.freshLogin(username, password, digest)).finally(() => this.pending.delete(key));
      this.pending.set(key, login);
    }
    const session = await login;
    return session.user;
  }

  /**
   * Takes the failure slot for this login (or throws DC_ERR_TOO_MANY_REQUESTS, logged at warn for
   * fail2ban), runs `check` through the argon2 gate, and settles the slot before answering: a
   * failure is counted in the store before its 401 goes out.
   */
  private async throttled(username: string, clientAddress: string, check: () => Promise<Session>): Promise<Session> {
    if (this.gate.full(username)) {
      // Refused before the throttle's store round trips: a burst past the queue costs nothing more.
      this.options.logger.warn('login refused: argon2 queue full', { user: logName(username), client: clientAddress });
      throw busyError();
    }
    let attempt: LoginAttempt;
    try {
      attempt = await this.throttle.reserve(username, clientAddress);
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_TOO_MANY_REQUESTS')) {
        this.options.logger.warn('login throttled', { user: logName(username), client: clientAddress, by: err.details.by, retryAfterSeconds: err.details.retryAfterSeconds });
        const d = err.details as { retryAfterSeconds?: number; by?: 'user+address' | 'address' };
        publishLogin({ outcome: 'throttled', user: username, address: clientAddress, retryAfterSeconds: d.retryAfterSeconds, by: d.by }); // ops
      }
      throw err;
    }
    let session: Session;
    try {
      session = await this.gate.run(username, check);
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_UNAUTHORIZED')) {
        await attempt.failed();
        publishLogin({ outcome: 'failure', user: username, address: clientAddress }); // ops
        this.options.logger.warn('login failed', { user: logName(username), client: clientAddress });
      } else {
        await attempt.abandoned();
        if (isDavcryptError(err, 'DC_ERR_BUSY')) this.options.logger.warn('login refused: argon2 queue full', { user: logName(username), client: clientAddress });
      }
      throw err;
    }
    await attempt.succeeded();
    publishLogin({ outcome: 'success', user: username, address: clientAddress }); // ops: a password check passed (cache hits return earlier)
    return session;
  }

  /**
   * A browser sign-in (src/web): always checks the password with argon2id (never the login cache),
   * through the same throttle and argon2 gate as Basic. Returns the user and a copy of the unlocked
   * identity key, which the caller seals under its session id and must zero. Throws like authenticate().
   */
  async signIn(username: string, password: string, clientAddress: string): Promise<{ user: AuthenticatedUser; privateKey: Buffer; accountVersion: string }> {
    const session = await this.throttled(username, clientAddress, () => this.freshLogin(username, password, this.cache.digest(username, password)));
    if (!session.privateKey) throw davError('DC_ERR_UNAUTHORIZED', 'login expired; sign in again');
    return { user: session.user, privateKey: Buffer.from(session.privateKey), accountVersion: session.record.updated };
  }

  /**
   * Resumes a browser session (possibly signed in at another gateway process) from the identity key
   * its cookie unsealed: checks the account still exists, unchanged since sign-in (a password change
   * ends browser sessions), with that key pair. The key is copied.
   * Throws DC_ERR_UNAUTHORIZED when the account is gone or its key changed (password reset).
   */
  async resumeSession(username: string, privateKey: Buffer, accountVersion: string): Promise<AuthenticatedUser> {
    const record = isValidUserName(username) ? await this.options.accounts.records.get(username) : undefined;
    if (!record) throw davError('DC_ERR_UNAUTHORIZED', 'account no longer exists');
    if (record.updated !== accountVersion) throw davError('DC_ERR_UNAUTHORIZED', 'the account changed (password); sign in again');
    const key = Buffer.from(privateKey);
    try {
      assertKeyPair(key, record.publicKey, userIdentity(username));
    } catch {
      key.fill(0);
      throw davError('DC_ERR_UNAUTHORIZED', 'account key changed; sign in again');
    }
    const user: AuthenticatedUser = { name: username };
    this.sessions.set(user, { user, record, privateKey: key, checkedAt: this.now(), epoch: await this.currentEpoch(), dropped: false, resolving: false });
    return user;
  }

  /** See MountResolver. Throws DC_ERR_UNAUTHORIZED (session expired), key/backend errors. */
  mountsFor(user: AuthenticatedUser): Promise<ResolvedMount[]> {
    const session = this.sessions.get(user);
    if (!session || session.dropped) return Promise.reject(davError('DC_ERR_UNAUTHORIZED', 'login expired; authenticate again'));
    if (!session.mounts) {
      const resolving = this.resolveMounts(session);
      session.mounts = resolving;
      session.resolving = true;
      resolving.then(
        () => {
          session.resolving = false;
          wipe(session); // the mounts hold their unlocked keys; the identity key is no longer needed
        },
        () => {
          session.resolving = false;
          if (session.mounts === resolving) session.mounts = undefined; // retry on the next request
          if (session.dropped) wipe(session);
        },
      );
    }
    return session.mounts;
  }

  /**
   * For a share link (src/web): a copy of the current key of a mount this user resolved, which the
   * link wraps; undefined for a plain mount. Files written under an older key stay unreadable through
   * the link (see docs/SECURITY.md, Share links). Throws DC_ERR_NO_ACCESS for a mount not resolved here.
   */
  shareKey(mount: ResolvedMount): MountKey | undefined {
    if (!mount.encrypted) return undefined;
    const keys = this.mountKeys.get(mount);
    if (!keys) throw davError('DC_ERR_NO_ACCESS', 'mount keys are not unlocked in this session');
    return { id: Buffer.from(keys.current.id), key: Buffer.from(keys.current.key) };
  }

  /**
   * The backend of an owner's mount opened with a key a share link unwrapped (no login of the owner).
   * Throws DC_ERR_NOT_FOUND when the mount is no longer configured or the owner's account is gone.
   */
  async openSharedMount(owner: string, mountId: MountId, key: MountKey | undefined): Promise<Backend> {
    const { backends, accounts } = this.options;
    const found = backends.resolveMountId(mountId);
    if (!found || !(await accounts.records.get(owner))) throw davError('DC_ERR_NOT_FOUND', 'the shared mount is gone');
    const mount = found.mount;
    if (!sameMountId(backends.mountId(mount, owner), mountId) || !backends.mountsFor(owner).includes(mount)) throw davError('DC_ERR_NOT_FOUND', 'the shared mount is gone');
    const raw = await backends.rawBackend(mount, owner);
    if (!mount.encrypt) return raw;
    if (!key) throw davError('DC_ERR_NOT_FOUND', 'the shared mount is now encrypted');
    return this.wrapEncrypting(mountId, raw, createMountKeySet([key], key), mount.plaintext ?? 'refuse');
  }

  /** True while the account a browser session signed in to is unchanged (same record version: no passwd, reset or removal since). */
  async accountUnchanged(username: string, accountVersion: string): Promise<boolean> {
    const record = isValidUserName(username) ? await this.options.accounts.records.get(username) : undefined;
    return record?.updated === accountVersion;
  }

  /** Drops every cached login of a user (after passwd/remove in this process). */
  logout(username: string): number {
    return this.cache.deleteWhere((s) => s.user.name === username);
  }

  stats(): LoginStats {
    return { ...this.counters, cacheSize: this.cache.size };
  }

  close(): void {
    this.cache.close();
    this.throttle.close();
    this.metaCaches.clear();
  }

  private async stillValid(session: Session): Promise<boolean> {
    if (this.now() - session.checkedAt < this.recheckMs) return true;
    const record = await this.options.accounts.records.get(session.user.name);
    const epoch = await this.currentEpoch();
    // A password changed or revoked on the backend ends cached logins within recheckSeconds.
    const backendOk = session.backendPassword === undefined || await this.options.backendLogin!.verify(session.user.name, session.backendPassword);
    if (backendOk && record && record.updated === session.record.updated && record.publicKey === session.record.publicKey && epoch === session.epoch) {
      session.checkedAt = this.now();
      return true;
    }
    this.cache.deleteWhere((s) => s === session);
    return false;
  }

  /**
   * auth.provider: backend: the backend decides whether the password is right; the record is created
   * at the first accepted login (the operator declared the backend the identity provider). The
   * backend knows that password, so nothing is sealed under it: the user's identity is sealed under a
   * random secret nobody keeps, and the master key (required by config) opens her mount keys. A
   * password changed on the backend therefore needs nothing here.
   */
  private async backendFreshLogin(username: string, password: string, digest: Buffer): Promise<Session> {
    const { accounts, backends, backendLogin, logger } = this.options;
    const epoch = await this.currentEpoch();
    if (!isValidUserName(username) || !(await backendLogin!.verify(username, password))) {
      throw davError('DC_ERR_UNAUTHORIZED', 'unknown user or wrong password');
    }
    backends.setPassthroughPassword(username, password);
    let record = await accounts.records.get(username);
    if (!record) {
      // A user removed with `davcrypt user remove` stays out, whatever the backend says.
      if (await accounts.records.wasRemoved(username)) throw davError('DC_ERR_UNAUTHORIZED', 'unknown user or wrong password');
      record = await this.createSealedAway(username);
      logger.info('user created at her first backend login (auth.provider: backend)', { user: username });
    } else {
      // A record made before the switch to auth.provider: backend may be sealed under this very
      // password, which the backend knows: re-seal it (record and keyrings) under a random secret.
      try {
        await accounts.passwd(username, password, randomBytes(32).toString('base64'));
        record = (await accounts.records.get(username)) ?? record;
        logger.info('identity re-sealed away from the password the backend knows', { user: username });
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) throw err;
      }
    }
    const user: AuthenticatedUser = { name: username };
    const session: Session = { user, record, checkedAt: this.now(), epoch, dropped: false, resolving: false, backendPassword: password };
    this.sessions.set(user, session);
    this.cache.set(digest, session);
    logger.info('login', { user: username, provider: 'backend' });
    return session;
  }

  /** A new user record whose identity is sealed under a random secret that is dropped at once. */
  private async createSealedAway(username: string): Promise<UserRecord> {
    const pair = generateIdentityKeyPair();
    try {
      const envelope = await sealIdentity(pair.privateKey, userIdentity(username), randomBytes(32).toString('base64'), this.options.argon2);
      const now = new Date().toISOString();
      const record: UserRecord = { name: username, publicKey: pair.publicKey.toString('base64'), envelope, created: now, updated: now };
      await this.options.accounts.records.put(record);
      return record;
    } finally {
      pair.privateKey.fill(0);
    }
  }

  private async freshLogin(username: string, password: string, digest: Buffer): Promise<Session> {
    if (this.options.backendLogin) return this.backendFreshLogin(username, password, digest);
    const identity = userIdentity(username);
    const epoch = await this.currentEpoch();
    // Accounts come only from the store: an identity found on the backend never logs in by itself
    // (the backend could plant one under a password of its choice; `davcrypt restore` is the way back).
    const record = isValidUserName(username) ? await this.options.accounts.records.get(username) : undefined;
    let privateKey: Buffer | undefined;
    this.counters.argon2++;
    try {
      if (record) privateKey = await openIdentity(record.envelope, identity, password);
      if (!record || !privateKey) {
        await this.burnArgon2(password); // same cost as a real check: no user enumeration by timing
        throw davError('DC_ERR_UNAUTHORIZED', 'unknown user or wrong password');
      }
    } catch (err) {
      if (isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) throw davError('DC_ERR_UNAUTHORIZED', 'unknown user or wrong password');
      throw err;
    }
    assertKeyPair(privateKey, record.publicKey, identity);
    const user: AuthenticatedUser = { name: username };
    const session: Session = { user, record, privateKey, checkedAt: this.now(), epoch, dropped: false, resolving: false };
    this.sessions.set(user, session);
    this.cache.set(digest, session);
    this.options.logger.info('login', { user: username });
    return session;
  }

  private async currentEpoch(): Promise<number> {
    return this.options.store ? keysEpoch(this.options.store) : 0;
  }

  private async burnArgon2(password: string): Promise<void> {
    this.dummy ??= sealIdentity(randomBytes(32), 'user:-', randomBytes(16).toString('base64'), this.options.argon2);
    await openIdentity(await this.dummy, 'user:-', password).catch(() => undefined);
  }

  private async resolveMounts(session: Session): Promise<ResolvedMount[]> {
    const { backends, logger } = this.options;
    const name = session.user.name;
    const out: ResolvedMount[] = [];
    for (const mount of backends.mountsFor(name)) {
      const id = backends.mountId(mount, name);
      const raw = await backends.rawBackend(mount, name);
      let backend: Backend = raw;
      let mountKeys: MountKeySet | undefined;
      if (mount.encrypt) {
        // Backend logins hold no private key of their own: the master key opens their mount keys.
        const opener = session.privateKey ?? (session.backendPassword !== undefined ? this.options.master?.privateKey : undefined);
        if (!opener) throw davError('DC_ERR_UNAUTHORIZED', 'login expired; authenticate again');
        const revoked = mount.perUser || !this.options.store ? [] : await revokedUsers(this.options.store, id);
        if (revoked.includes(name)) {
          logger.info('mount revoked for this user (davcrypt mount revoke); not shown', { user: name, mount: formatMountId(id) });
          continue;
        }
        const members = mount.perUser ? [identityOf(session.record)] : await this.membersOf(mount.users ?? ['*'], session.record, revoked);
        const self = session.privateKey
          ? { name: userIdentity(name), privateKey: session.privateKey, envelope: session.record.envelope }
          : { name: this.options.master!.identity.name, privateKey: opener };
        let keys: MountKeySet;
        try {
          keys = await this.unlock(id, raw, self, members);
        } catch (err) {
          if (!mount.perUser && isDavcryptError(err, 'DC_ERR_NO_ACCESS')) {
            logger.warn('shared mount not yet granted to this user (a member who holds the key must log in first)', { user: name, mount: formatMountId(id) });
            continue;
          }
          throw err;
        }
        backend = this.wrapEncrypting(id, raw, keys, mount.plaintext ?? 'refuse');
        mountKeys = keys;
      }
      const resolved: ResolvedMount = { urlPrefix: mount.path === '/' ? '' : mount.path, id, backend: this.limited(name, backend), encrypted: mount.encrypt };
      if (mountKeys) this.mountKeys.set(resolved, mountKeys);
      out.push(resolved);
    }
    return out.sort((a, b) => b.urlPrefix.length - a.urlPrefix.length);
  }

  /** The mount's backend behind the user's slot pool (see LimitedBackend). */
  private limited(name: string, backend: Backend): Backend {
    const bound = this.options.backendSlots;
    if (!bound) return backend;
    let slots = this.userSlots.get(name);
    if (!slots) {
      slots = new RequestSlots(bound.perUser, bound.maxWaitMs);
      this.userSlots.set(name, slots);
    }
    return new LimitedBackend(backend, slots);
  }

  /**
   * Opens a mount's keys with the user's identity, and in master mode with the master key first:
   * both are openers, so both write their keyring tags and either one's tag vouches for a key.
   */
  private unlock(id: MountId, raw: Backend, self: OpenIdentity, members: IdentityInfo[]): Promise<MountKeySet> {
    const { keyrings, master } = this.options;
    const openers: OpenIdentity[] = master ? [{ name: master.identity.name, privateKey: master.privateKey }, self] : [self];
    return keyrings.unlockOrCreate(id, raw, openers, members);
  }

  /** Wraps a mount's raw backend; header metadata (not secret) is cached per mount across sessions. */
  private wrapEncrypting(mountId: MountId, inner: Backend, keys: MountKeySet, plaintext: 'refuse' | 'read'): Backend {
    const key = formatMountId(mountId);
    let metaCache = this.metaCaches.get(key);
    if (!metaCache) {
      metaCache = new LruEncryptionMetaCache();
      this.metaCaches.set(key, metaCache);
    }
    return new EncryptingBackend(inner, keys, { metaCache, plaintext });
  }

  /** Config members of a shared mount (minus revoked users): the gateway keeps keys wrapped to them. */
  private async membersOf(users: string[], self: UserRecord, revoked: string[]): Promise<IdentityInfo[]> {
    const records = users.includes('*')
      ? await this.options.accounts.records.list()
      : await Promise.all(users.map((u) => (u === self.name ? self : this.options.accounts.records.get(u))));
    const out = records.filter((r): r is UserRecord => r !== undefined && !revoked.includes(r.name)).map(identityOf);
    if (!out.some((m) => m.name === userIdentity(self.name))) out.push(identityOf(self));
    return out;
  }
}

/** A user name as it may appear in a log line: only valid names (no quotes or spaces a log parser could be fooled by). */
function logName(username: string): string {
  return isValidUserName(username) ? username : '(invalid name)';
}

function identityOf(record: UserRecord): IdentityInfo {
  return { name: userIdentity(record.name), publicKey: Buffer.from(record.publicKey, 'base64'), envelope: record.envelope };
}

function wipe(session: Session): void {
  session.privateKey?.fill(0);
  session.privateKey = undefined;
}

function dropSession(session: Session): void {
  session.dropped = true;
  session.mounts = undefined;
  // A resolution in flight still needs the key; it is wiped when that settles (see mountsFor).
  if (!session.resolving) wipe(session);
}


