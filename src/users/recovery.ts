// The admin recovery identity: `recovery init` (create it, put it in every keyring
// the store knows, wrap to it every key the CLI can open with the given users'
// passwords; the running gateway wraps the rest lazily at members' next logins) and
// `recovery reset-password` (a user who forgot her password gets a new identity;
// her mount keys are re-wrapped to it through their recovery wraps). Never logs or
// keeps a password; wipes private keys it opened.
import { generateIdentityKeyPair, sealIdentity, type Keyring } from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import {
  addCurrentKey,
  bumpKeysEpoch,
  getStoredRecovery,
  removeWrapsOf,
  revokedUsers,
  setStoredRecovery,
  unwrapEvery,
  wipeMountKeys,
  wrapKeysTo,
  type IdentityInfo,
  type MountKey,
} from '../keys/index.js';
import { backendOf, holdsPublicKey, knownKeyrings, openOpener, openRecovery, type CustodyContext, type OpenedIdentity } from './custody-context.js';
import { assertValidUserName, userIdentity } from './names.js';
import type { UserRecord } from './records.js';

/** Per keyring: how many keys it has and how many are now wrapped to recovery. */
export interface KeyringCoverage {
  mountId: string;
  keys: number;
  covered: number;
}

export interface RecoveryInitReport {
  keyrings: KeyringCoverage[];
}

/** Keys of one keyring a reset could (not) bring back. */
export interface ResetKeyring {
  mountId: string;
  /** Keys re-wrapped to the user's new identity. */
  rewrapped: number;
  /** Keys she held that have no (trusted) recovery wrap: their files are lost to her unless another member re-grants. */
  lost: string[];
  /** A new current key was made (--force on a home whose current key had no recovery wrap). */
  newCurrent?: string;
}

export interface ResetReport {
  keyrings: ResetKeyring[];
  /** True when the store had no record of the user (lost store) and one was made. */
  recordCreated: boolean;
}

/**
 * Creates the recovery identity and wraps to it every key of every known keyring that one of
 * `users` (name + password) holds. Refuses when one exists. Throws DC_ERR_EXISTS,
 * DC_ERR_USAGE (empty password), DC_ERR_NOT_FOUND / DC_ERR_WRONG_PASSWORD (a --user), store/backend errors.
 */
export async function recoveryInit(
  ctx: CustodyContext,
  password: string,
  users: { name: string; password: string }[] = [],
  onKeyring?: (mountId: string) => void,
): Promise<RecoveryInitReport> {
  if (password.length === 0) throw davError('DC_ERR_USAGE', 'the recovery password must not be empty');
  if (await getStoredRecovery(ctx.store)) {
    throw davError('DC_ERR_EXISTS', 'a recovery identity already exists; it is never replaced (every recovery wrap would be lost)');
  }
  const pair = generateIdentityKeyPair();
  try {
    // Open every --user first: a wrong password changes nothing.
    const opened = await openUsers(ctx, users);
    try {
      const envelope = await sealIdentity(pair.privateKey, 'recovery', password, ctx.config.keys.argon2);
      await setStoredRecovery(ctx.store, { publicKey: pair.publicKey.toString('base64'), envelope, created: new Date().toISOString() });
      const report = await coverKeyrings(ctx, { name: 'recovery', publicKey: pair.publicKey, envelope }, opened, onKeyring);
      ctx.logger.info('recovery identity created', { keyrings: report.keyrings.length });
      return report;
    } finally {
      for (const o of opened) o.privateKey.fill(0);
    }
  } finally {
    pair.privateKey.fill(0);
  }
}

/**
 * After `recovery init`: wraps to the existing recovery identity every key that `users` hold (their
 * passwords; the recovery password is not needed, only its public key). Throws DC_ERR_NO_ACCESS
 * (no recovery identity), DC_ERR_NOT_FOUND / DC_ERR_WRONG_PASSWORD (a user), store/backend errors.
 */
export async function recoveryCover(
  ctx: CustodyContext,
  users: { name: string; password: string }[],
  onKeyring?: (mountId: string) => void,
): Promise<RecoveryInitReport> {
  const stored = await getStoredRecovery(ctx.store);
  if (!stored) throw davError('DC_ERR_NO_ACCESS', 'no recovery identity is set up (run: davcrypt recovery init --config FILE)');
  const opened = await openUsers(ctx, users);
  try {
    return await coverKeyrings(ctx, { name: 'recovery', publicKey: Buffer.from(stored.publicKey, 'base64'), envelope: stored.envelope }, opened, onKeyring);
  } finally {
    for (const o of opened) o.privateKey.fill(0);
  }
}

async function openUsers(ctx: CustodyContext, users: { name: string; password: string }[]): Promise<OpenedIdentity[]> {
  const opened: OpenedIdentity[] = [];
  try {
    for (const u of users) opened.push(await openOpener(ctx, { kind: 'user', name: assertValidUserName(u.name), password: u.password }));
  } catch (err) {
    for (const o of opened) o.privateKey.fill(0);
    throw err;
  }
  return opened;
}

/** Puts `recovery` into every keyring the store holds and wraps to it the keys `opened` hold. */
async function coverKeyrings(
  ctx: CustodyContext,
  recovery: IdentityInfo,
  opened: OpenedIdentity[],
  onKeyring?: (mountId: string) => void,
): Promise<RecoveryInitReport> {
  const report: RecoveryInitReport = { keyrings: [] };
  for (const known of await knownKeyrings(ctx)) {
    if (!(await ctx.services.keyrings.getStored(known.mountId))) continue;
    onKeyring?.(known.mountId);
    const backend = await backendOf(ctx, known);
    const coverage = await ctx.services.keyrings.update(known.mountId, backend, (keyring) => {
      const before = JSON.stringify(keyring);
      const held = keysOpenedBy(keyring, opened);
      try {
        wrapKeysTo(keyring, held, recovery);
      } finally {
        wipeMountKeys(held);
      }
      const covered = keyring.keys.filter((k) => k.wraps.some((w) => w.to === 'recovery')).length;
      return { save: JSON.stringify(keyring) !== before, result: { mountId: known.mountId, keys: keyring.keys.length, covered } };
    });
    report.keyrings.push(coverage);
  }
  await bumpKeysEpoch(ctx.store);
  return report;
}

/** Every key of the keyring that one of the opened identities holds (a wrap that does not open is skipped). */
function keysOpenedBy(keyring: Keyring, opened: OpenedIdentity[]): MountKey[] {
  const byId = new Map<string, MountKey>();
  for (const o of opened) {
    if (!holdsPublicKey(keyring, o.name, o.publicKey)) continue;
    for (const entry of keyring.keys) {
      if (byId.has(entry.id)) continue;
      try {
        const single = { ...keyring, keys: [entry] };
        for (const k of unwrapEvery(single, o.name, o.privateKey).keys) byId.set(entry.id, k);
      } catch (err) {
        if (!isDavcryptError(err, 'DC_ERR_UNWRAP_FAILED')) throw err;
      }
    }
  }
  return [...byId.values()];
}

/**
 * Gives `user` a new identity sealed with `newPassword`, re-wrapping every key she held (home and
 * shared mounts) through its recovery wrap. Refuses (DC_ERR_NO_ACCESS, nothing changed) when a key
 * of one of her homes has no recovery wrap, unless `force` (those files stay unreadable; a home
 * whose current key is lost gets a new one). Works from the backend keyrings alone when the store
 * was lost (trust on first use). Throws DC_ERR_USAGE, DC_ERR_NOT_FOUND (removed user, or nothing
 * of hers anywhere), DC_ERR_WRONG_PASSWORD (recovery), store/backend errors.
 */
export async function resetPassword(
  ctx: CustodyContext,
  name: string,
  recoveryPassword: string,
  newPassword: string,
  options: { force?: boolean } = {},
): Promise<ResetReport> {
  assertValidUserName(name);
  if (newPassword.length === 0) throw davError('DC_ERR_USAGE', 'the new password must not be empty');
  const { services } = ctx;
  if (await services.records.wasRemoved(name)) throw davError('DC_ERR_NOT_FOUND', `user ${name} was removed; add her again with davcrypt user add`);
  const record = await services.records.get(name);
  const identity = userIdentity(name);
  // Her encrypted mounts and their trusted keyrings (the backend copy is adopted when the store has none).
  const mine: { mountId: string; perUser: boolean; backend: Awaited<ReturnType<typeof backendOf>>; keyring: Keyring }[] = [];
  for (const mount of services.backends.mountsFor(name)) {
    if (!mount.encrypt) continue;
    const known = { mount, user: mount.perUser ? name : undefined };
    const mountId = services.backends.mountId(mount, name);
    if (!mount.perUser && (await revokedUsers(ctx.store, mountId)).includes(name)) continue; // revoked: stays out
    const backend = await backendOf(ctx, known);
    const keyring = await services.keyrings.load(mountId, backend);
    if (keyring) mine.push({ mountId, perUser: mount.perUser, backend, keyring });
  }
  if (!record && !mine.some((m) => m.keyring.identities[identity])) {
    throw davError('DC_ERR_NOT_FOUND', `no user ${name} in the store and no keyring holds her identity; see davcrypt user list`);
  }
  const recovery = await openRecovery(ctx, recoveryPassword, mine.map((m) => m.keyring));
  try {
    // Plan first: what each keyring can give back. Nothing is written before the check below.
    const plans = mine.map((m) => ({ ...m, ...planKeyring(m.keyring, identity, recovery) }));
    const homeLoss = plans.filter((p) => p.perUser && p.lost.length > 0);
    if (homeLoss.length > 0 && !options.force) {
      for (const p of plans) wipeMountKeys(p.keys);
      throw davError(
        'DC_ERR_NO_ACCESS',
        `keys of ${homeLoss.map((p) => `${p.mountId} (${p.lost.join(', ')})`).join('; ')} have no recovery wrap ` +
          `(${name} has not logged in since recovery init): files under them would stay unreadable. Nothing was changed. ` +
          `Log her in once with the old password if anyone knows it, or pass --force to accept the loss`,
      );
    }
    const pair = generateIdentityKeyPair();
    const report: ResetReport = { keyrings: [], recordCreated: !record };
    try {
      const envelope = await sealIdentity(pair.privateKey, identity, newPassword, ctx.config.keys.argon2);
      const fresh: IdentityInfo = { name: identity, publicKey: pair.publicKey, envelope };
      for (const p of plans) {
        const result = await services.keyrings.update(p.mountId, p.backend, (keyring) => {
          removeWrapsOf(keyring, identity);
          const held = p.keys.filter((k) => keyring.keys.some((e) => e.id === k.id.toString('hex')));
          const rewrapped = wrapKeysTo(keyring, held, fresh);
          const out: ResetKeyring = { mountId: p.mountId, rewrapped, lost: p.lost };
          if (p.perUser && !held.some((k) => k.id.toString('hex') === keyring.current)) {
            const key = addCurrentKey(keyring);
            out.newCurrent = key.id.toString('hex');
            wipeMountKeys([key]);
          }
          return { save: true, result: out };
        });
        report.keyrings.push(result);
      }
      const now = new Date().toISOString();
      const updated: UserRecord = { name, publicKey: pair.publicKey.toString('base64'), envelope, created: record?.created ?? now, updated: now };
      await services.records.put(updated);
    } finally {
      pair.privateKey.fill(0);
      for (const p of plans) wipeMountKeys(p.keys);
    }
    await bumpKeysEpoch(ctx.store);
    services.authenticator.logout(name);
    ctx.logger.warn('password reset through the recovery identity', { user: name, keyrings: report.keyrings.map((k) => k.mountId) });
    return report;
  } finally {
    recovery.privateKey.fill(0);
  }
}

/** The keys `identity` held in a keyring that recovery can open, and those it cannot. */
function planKeyring(keyring: Keyring, identity: string, recovery: OpenedIdentity): { keys: MountKey[]; lost: string[] } {
  const trusted = holdsPublicKey(keyring, 'recovery', recovery.publicKey);
  const keys: MountKey[] = [];
  const lost: string[] = [];
  for (const entry of keyring.keys) {
    if (!entry.wraps.some((w) => w.to === identity)) continue;
    const wrap = trusted ? entry.wraps.find((w) => w.to === 'recovery') : undefined;
    if (!wrap) {
      lost.push(entry.id);
      continue;
    }
    try {
      keys.push(...unwrapEvery({ ...keyring, keys: [{ ...entry, wraps: [wrap] }] }, 'recovery', recovery.privateKey).keys);
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_UNWRAP_FAILED')) throw err;
      lost.push(entry.id);
    }
  }
  return { keys, lost };
}
