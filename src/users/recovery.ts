// The admin recovery identity: `recovery init` (create it, leave its keyring tag key in
// the store, put it in every keyring the store knows, wrap to it every key the CLI can
// open with the given users' passwords; the running gateway wraps the rest lazily at
// members' next logins), `recovery tag` (store the tag key of an identity made before
// keyring format 2 and tag its wraps), `recovery restore` (after a lost store: put back
// the recovery identity the recovery password opens) and `recovery reset-password` (a
// user who forgot her password gets a new identity; her mount keys are re-wrapped to
// it through their recovery wraps). Never logs or keeps a password; wipes private keys.
import { deriveTagKey, generateIdentityKeyPair, openIdentity, sealIdentity, type Keyring } from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import {
  addCurrentKey,
  bumpKeysEpoch,
  currentId,
  formatMountId,
  getStoredRecovery,
  removeWrapsOf,
  revokedUsers,
  sameMountId,
  setStoredRecovery,
  tagHeld,
  unwrapEvery,
  wipeMountKeys,
  wrapKeysTo,
  type IdentityInfo,
  type MountId,
  type MountKey,
  type OpenIdentity,
} from '../keys/index.js';
import { assertKeyPair } from './accounts.js';
import { publicKeyFingerprint } from './restore.js';
import { backendOf, holdsPublicKey, knownKeyrings, openOpener, openRecovery, trustedRecipients, type CustodyContext, type OpenedIdentity } from './custody-context.js';
import { assertValidUserName, userIdentity } from './names.js';
import type { UserRecord } from './records.js';

/** Per keyring: how many keys it has and how many are now wrapped to recovery. */
export interface KeyringCoverage {
  mountId: MountId;
  keys: number;
  covered: number;
}

export interface RecoveryInitReport {
  keyrings: KeyringCoverage[];
  /** Fingerprint of the recovery identity's public key (publicKeyFingerprint). */
  fingerprint: string;
}

export interface RecoveryTagReport {
  /** Per keyring of the store: recovery wraps whose tag was written now. */
  keyrings: { mountId: MountId; tagged: number }[];
  fingerprint: string;
}

export interface RecoveryRestoreReport {
  fingerprint: string;
  /** Mount id of the backend keyring the identity was found in. */
  foundIn: MountId;
}

/** Keys of one keyring a reset could (not) bring back. */
export interface ResetKeyring {
  mountId: MountId;
  /** Keys re-wrapped to the user's new identity. */
  rewrapped: number;
  /** Keys she held that have no (trusted) recovery wrap: their files are lost to her unless another member re-grants. */
  lost: string[];
  /** A new current key was made (--force on a home whose current key had no recovery wrap, or a keyring taken over after a lost store). */
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
  onKeyring?: (mountId: MountId) => void,
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
      // The tag key stays with the gateway: wraps to recovery are tagged as keys are made (docs/SECURITY.md §3).
      const tagKey = deriveTagKey(pair.privateKey).toString('base64');
      await setStoredRecovery(ctx.store, { publicKey: pair.publicKey.toString('base64'), envelope, created: new Date().toISOString(), tagKey });
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
  onKeyring?: (mountId: MountId) => void,
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

/** Puts `recovery` into every keyring the store holds and wraps to it (tagged) the keys `opened` hold. */
async function coverKeyrings(
  ctx: CustodyContext,
  recovery: IdentityInfo,
  opened: OpenedIdentity[],
  onKeyring?: (mountId: MountId) => void,
): Promise<RecoveryInitReport> {
  const report: RecoveryInitReport = { keyrings: [], fingerprint: publicKeyFingerprint(recovery.publicKey.toString('base64')) };
  const openers: OpenIdentity[] = opened.map((o) => ({ name: o.name, privateKey: o.privateKey, envelope: o.envelope }));
  for (const known of await knownKeyrings(ctx)) {
    if (!(await ctx.services.keyrings.getStored(known.mountId))) continue;
    onKeyring?.(known.mountId);
    const backend = await backendOf(ctx, known);
    const coverage = await ctx.services.keyrings.update(
      known.mountId,
      backend,
      (keyring, edit) => {
        const before = JSON.stringify(keyring);
        wrapKeysTo(keyring, edit.held, recovery, edit.tagKeys);
        tagHeld(keyring, edit.held, edit.tagKeys);
        const covered = keyring.keys.filter((k) => k.wraps.some((w) => w.to === 'recovery')).length;
        return { save: JSON.stringify(keyring) !== before, result: { mountId: known.mountId, keys: keyring.keys.length, covered } };
      },
      { openers },
    );
    report.keyrings.push(coverage);
  }
  await bumpKeysEpoch(ctx.store);
  return report;
}

/**
 * For a recovery identity made before keyring format 2 (or a store that lost the tag key): opens
 * it with its password, leaves its tag key in the store, and tags every recovery wrap of every
 * keyring the store holds (the recovery key opens each key; the store copy vouches for it). Throws
 * DC_ERR_NO_ACCESS (no recovery identity), DC_ERR_WRONG_PASSWORD, store/backend errors.
 */
export async function recoveryTag(ctx: CustodyContext, password: string, onKeyring?: (mountId: MountId) => void): Promise<RecoveryTagReport> {
  const recovery = await openRecovery(ctx, password);
  try {
    const opener: OpenIdentity = { name: 'recovery', privateKey: recovery.privateKey, envelope: recovery.envelope };
    const report: RecoveryTagReport = { keyrings: [], fingerprint: publicKeyFingerprint(recovery.publicKey.toString('base64')) };
    for (const known of await knownKeyrings(ctx)) {
      if (!(await ctx.services.keyrings.getStored(known.mountId))) continue;
      onKeyring?.(known.mountId);
      const backend = await backendOf(ctx, known);
      const tagged = await ctx.services.keyrings.update(
        known.mountId,
        backend,
        (keyring, edit) => {
          const n = holdsPublicKey(keyring, 'recovery', recovery.publicKey) ? tagHeld(keyring, edit.held, edit.tagKeys) : 0;
          return { save: n > 0, result: n };
        },
        { openers: [opener] },
      );
      report.keyrings.push({ mountId: known.mountId, tagged });
    }
    return report;
  } finally {
    recovery.privateKey.fill(0);
  }
}

/**
 * After a lost store: puts back into the store the recovery identity that `password` opens, found
 * in a backend keyring of a mount the config, the store's user records or `users` (names whose
 * homes to look at) name. Only an envelope this password opens is taken (a planted
 * identity cannot be, since its maker does not know the recovery password), with its tag key.
 * Throws DC_ERR_EXISTS (the store has one), DC_ERR_NOT_FOUND (no backend keyring holds a recovery
 * identity), DC_ERR_WRONG_PASSWORD (none opens with it), DC_ERR_KEYRING_INVALID, store/backend errors.
 */
export async function recoveryRestore(ctx: CustodyContext, password: string, users: string[] = []): Promise<RecoveryRestoreReport> {
  if (await getStoredRecovery(ctx.store)) {
    throw davError('DC_ERR_EXISTS', 'the store already holds a recovery identity; nothing to restore');
  }
  const candidates = await knownKeyrings(ctx);
  for (const user of users.map((u) => assertValidUserName(u))) {
    for (const mount of ctx.services.backends.mountsFor(user)) {
      const mountId = ctx.services.backends.mountId(mount, user);
      if (mount.encrypt && !candidates.some((c) => sameMountId(c.mountId, mountId))) candidates.push({ mountId, mount, user: mount.perUser ? user : undefined });
    }
  }
  let seen = 0;
  let lastError: unknown;
  for (const known of candidates) {
    const backend = await backendOf(ctx, known);
    let remote: Keyring | undefined;
    try {
      remote = await ctx.services.keyrings.readBackendCopy(backend);
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_KEYRING_INVALID')) throw err;
      lastError = err;
      continue;
    }
    const entry = remote?.identities.recovery;
    if (!entry?.envelope) continue;
    seen++;
    let privateKey: Buffer;
    try {
      privateKey = await openIdentity(entry.envelope, 'recovery', password);
      assertKeyPair(privateKey, entry.publicKey, 'recovery');
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD') && !isDavcryptError(err, 'DC_ERR_KEYRING_INVALID')) throw err;
      lastError = err;
      continue;
    }
    try {
      const tagKey = deriveTagKey(privateKey).toString('base64');
      await setStoredRecovery(ctx.store, { publicKey: entry.publicKey, envelope: entry.envelope, created: new Date().toISOString(), tagKey });
    } finally {
      privateKey.fill(0);
    }
    const fingerprint = publicKeyFingerprint(entry.publicKey);
    ctx.logger.warn('recovery identity restored from a backend keyring: the recovery password opened it', { mount: formatMountId(known.mountId), fingerprint });
    await bumpKeysEpoch(ctx.store);
    return { fingerprint, foundIn: known.mountId };
  }
  if (seen === 0) {
    if (lastError) throw lastError;
    throw davError('DC_ERR_NOT_FOUND', 'no backend keyring of the configured mounts holds a recovery identity (restore the user accounts first, so their homes are known)');
  }
  throw lastError ?? davError('DC_ERR_WRONG_PASSWORD', 'the recovery password opens no recovery identity found on the backend');
}

/**
 * Gives `user` a new identity sealed with `newPassword`, re-wrapping every key she held (home and
 * shared mounts) through its recovery wrap. Refuses (DC_ERR_NO_ACCESS, nothing changed) when a key
 * of one of her homes has no recovery wrap, unless `force` (those files stay unreadable; a home
 * whose current key is lost gets a new one). After a lost store (run `recovery restore` first) the
 * keys come from the backend keyrings, each one only when its recovery tag verifies. Throws
 * DC_ERR_USAGE, DC_ERR_NOT_FOUND (removed user, or nothing of hers anywhere), DC_ERR_NO_ACCESS (no
 * recovery identity in the store), DC_ERR_WRONG_PASSWORD (recovery), store/backend errors.
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
  const recovery = await openRecovery(ctx, recoveryPassword);
  const recOpener: OpenIdentity = { name: 'recovery', privateKey: recovery.privateKey, envelope: recovery.envelope };
  try {
    // Her encrypted mounts and their trusted keyrings (store copy, plus backend keys the recovery tag vouches for).
    const mine: { mountId: MountId; perUser: boolean; backend: Awaited<ReturnType<typeof backendOf>>; keyring: Keyring; remote?: Keyring; fromStore: boolean }[] = [];
    for (const mount of services.backends.mountsFor(name)) {
      if (!mount.encrypt) continue;
      const known = { mount, user: mount.perUser ? name : undefined };
      const mountId = services.backends.mountId(mount, name);
      if (!mount.perUser && (await revokedUsers(ctx.store, mountId)).includes(name)) continue; // revoked: stays out
      const backend = await backendOf(ctx, known);
      const t = await services.keyrings.trusted(mountId, backend, [recOpener]);
      wipeMountKeys(t.held);
      if (t.keyring) mine.push({ mountId, perUser: mount.perUser, backend, keyring: t.keyring, remote: t.remote, fromStore: t.fromStore });
    }
    const namesHer = (m: (typeof mine)[number]) => m.keyring.identities[identity] !== undefined || m.remote?.identities[identity] !== undefined;
    if (!record && !mine.some(namesHer)) {
      throw davError('DC_ERR_NOT_FOUND', `no user ${name} in the store and no keyring holds her identity; see davcrypt user list`);
    }
    // Plan first: what each keyring can give back. Nothing is written before the check below.
    const plans = mine.map((m) => ({ ...m, ...planKeyring(m.keyring, m.fromStore ? undefined : m.remote, m.perUser, identity, recovery) }));
    const homeLoss = plans.filter((p) => p.perUser && p.lost.length > 0);
    if (homeLoss.length > 0 && !options.force) {
      for (const p of plans) wipeMountKeys(p.keys);
      throw davError(
        'DC_ERR_NO_ACCESS',
        `keys of ${homeLoss.map((p) => `${formatMountId(p.mountId)} (${p.lost.join(', ')})`).join('; ')} have no recovery wrap ` +
          `(${name} has not logged in since recovery init): files under them would stay unreadable. Nothing was changed. ` +
          `Log her in once with the old password if anyone knows it, or pass --force to accept the loss`,
      );
    }
    const pair = generateIdentityKeyPair();
    const report: ResetReport = { keyrings: [], recordCreated: !record };
    try {
      const envelope = await sealIdentity(pair.privateKey, identity, newPassword, ctx.config.keys.argon2);
      const fresh: IdentityInfo = { name: identity, publicKey: pair.publicKey, envelope };
      // Both are openers: recovery takes keys over from a backend copy, the new identity tags its wraps.
      const openers: OpenIdentity[] = [recOpener, { name: identity, privateKey: pair.privateKey, envelope }];
      for (const p of plans) {
        const result = await services.keyrings.update(
          p.mountId,
          p.backend,
          async (keyring, edit) => {
            removeWrapsOf(keyring, identity);
            const held = p.keys.filter((k) => keyring.keys.some((e) => e.id === k.id.toString('hex')));
            const rewrapped = wrapKeysTo(keyring, held, fresh, edit.tagKeys);
            tagHeld(keyring, held, edit.tagKeys);
            const out: ResetKeyring = { mountId: p.mountId, rewrapped, lost: p.lost };
            // A keyring taken over from the backend through recovery tags alone (lost store) gets a fresh
            // current key: those tags are only as safe as the store that held the recovery tag key.
            const takenOver = !p.fromStore;
            if (takenOver || (p.perUser && !held.some((k) => k.id.toString('hex') === currentId(keyring)))) {
              const recipients = (await trustedRecipients(ctx, keyring)).filter((r) => r.name !== identity);
              const key = addCurrentKey(keyring, p.mountId, { tagKeys: edit.tagKeys, recipients: [...recipients, fresh] });
              out.newCurrent = key.id.toString('hex');
              wipeMountKeys([key]);
            }
            return { save: true, result: out };
          },
          { openers },
        );
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
    ctx.logger.warn('password reset through the recovery identity', { user: name, keyrings: report.keyrings.map((k) => formatMountId(k.mountId)) });
    return report;
  } finally {
    recovery.privateKey.fill(0);
  }
}

/**
 * The keys `identity` held in a trusted keyring that recovery can open, and those it cannot. Hers
 * are the keys with a wrap to her in the trusted keyring, every key of her own home, and, when the
 * keyring was just taken over from the backend (`remote`: a lost store, where her wraps cannot be
 * verified, only named), the backend keys naming her.
 */
function planKeyring(keyring: Keyring, remote: Keyring | undefined, perUser: boolean, identity: string, recovery: OpenedIdentity): { keys: MountKey[]; lost: string[] } {
  const trusted = holdsPublicKey(keyring, 'recovery', recovery.publicKey);
  const keys: MountKey[] = [];
  const lost: string[] = [];
  const hers = (id: string, wraps: { to: string }[]) => perUser || wraps.some((w) => w.to === identity) || (remote?.keys.find((k) => k.id === id)?.wraps.some((w) => w.to === identity) ?? false);
  for (const entry of keyring.keys) {
    if (!hers(entry.id, entry.wraps)) continue;
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
  // Keys of hers on the backend that recovery cannot vouch for (no recovery tag): lost to the reset.
  for (const r of remote?.keys ?? []) {
    if (keyring.keys.some((k) => k.id === r.id) || !r.wraps.some((w) => w.to === identity)) continue;
    lost.push(r.id);
  }
  return { keys, lost };
}
