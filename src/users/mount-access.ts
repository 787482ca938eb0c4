// Who holds a mount's keys: `mount grant` (wrap every key an opener holds to a
// user), `mount revoke` (remove her wraps and identity, rotate to a new current
// key, mark her revoked so the gateway never re-wraps to her), and `key rotate`
// (new current key for new files). Access rule: config `users:` says who MAY use a
// shared mount; the keyring (and the revocation marker) says who can. Never logs keys.
import { davError, isDavcryptError } from '../errors.js';
import {
  addCurrentKey,
  bumpKeysEpoch,
  createMountKeySet,
  currentId,
  dropKeysExcept,
  formatMountId,
  markRevoked,
  removeIdentity,
  tagHeld,
  unwrapEvery,
  wipeMountKeys,
  wrapKeysTo,
  type MountId,
  type MountKey,
  type MountKeySet,
} from '../keys/index.js';
import type { MountConfig } from '../config/types.js';
import { backendOf, holdsPublicKey, identityOfRecord, mountAt, openOpener, trustedRecipients, type CustodyContext, type Opener } from './custody-context.js';
import { mountAllows } from './mount-backends.js';
import { assertValidUserName, userIdentity } from './names.js';

export interface GrantReport {
  mountId: MountId;
  /** Wraps added for the user. */
  added: number;
  /** Keys of the keyring the opener does not hold (not granted). */
  notHeld: string[];
}

export interface RevokeReport {
  mountId: MountId;
  removedWraps: number;
  /** The new current key (undefined when she held nothing, so no rotation was needed). */
  newCurrent?: string;
  /** She is still listed in the mount's config `users:` (the store marker keeps her out; edit the config too). */
  stillInConfig: boolean;
}

export interface RotateReport {
  mountId: MountId;
  previous: string;
  current: string;
  /** Identities the new key was wrapped to. */
  wrappedTo: string[];
}

/** The mount a key command addresses, and its keyring id. Throws DC_ERR_USAGE. */
export function keyedMount(ctx: CustodyContext, path: string, owner?: string): { mount: MountConfig; user?: string; mountId: MountId } {
  const mount = mountAt(ctx.config, path);
  if (!mount.encrypt) throw davError('DC_ERR_USAGE', `mount ${mount.path} is not encrypted (encrypt: false): it has no keys`);
  if (mount.perUser) {
    if (!owner) throw davError('DC_ERR_USAGE', `mount ${mount.path} is per-user: give --user NAME (whose home)`);
    assertValidUserName(owner);
    return { mount, user: owner, mountId: ctx.services.backends.mountId(mount, owner) };
  }
  return { mount, mountId: ctx.services.backends.mountId(mount) };
}

function sharedMount(ctx: CustodyContext, path: string, user: string, verb: string): { mount: MountConfig; mountId: MountId } {
  assertValidUserName(user);
  const found = keyedMount(ctx, path);
  if (found.mount.perUser) throw davError('DC_ERR_USAGE', `mount ${found.mount.path} is per-user (each user has her own home): only shared mounts can be ${verb}`);
  return found;
}

/**
 * Wraps every key of a shared mount that the opener holds to `user`, and clears a revocation.
 * The config must list her (mounts[i].users). Throws DC_ERR_USAGE, DC_ERR_NOT_FOUND (no such user),
 * DC_ERR_WRONG_PASSWORD, DC_ERR_NO_ACCESS (opener holds no key / no keyring yet), store/backend errors.
 */
export async function grantMount(ctx: CustodyContext, path: string, user: string, opener: Opener): Promise<GrantReport> {
  const { mount, mountId } = sharedMount(ctx, path, user, 'granted');
  if (!mountAllows(mount, user)) {
    throw davError('DC_ERR_USAGE', `${user} is not in the users: list of mount ${mount.path} in the config; add her there first (config says who may, the keyring says who can)`);
  }
  const record = await ctx.services.records.get(user);
  if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${user}; add her with davcrypt user add ${user}`);
  const backend = await backendOf(ctx, { mount });
  const opened = await openOpener(ctx, opener);
  try {
    const report = await ctx.services.keyrings.update(mountId, backend, async (keyring, edit) => {
      if (!holdsPublicKey(keyring, opened.name, opened.publicKey)) {
        throw davError('DC_ERR_NO_ACCESS', `the keyring of ${mount.path} holds no identity ${opened.name} with this key`);
      }
      const { keys, missing } = unwrapEvery(keyring, opened.name, opened.privateKey);
      try {
        if (keys.length === 0) throw davError('DC_ERR_NO_ACCESS', `no key of ${mount.path} is wrapped to ${opened.name}`);
        const added = wrapKeysTo(keyring, keys, identityOfRecord(record), edit.tagKeys);
        tagHeld(keyring, keys, edit.tagKeys);
        await markRevoked(ctx.store, mountId, user, false);
        return { save: true, result: { mountId, added, notHeld: missing } };
      } finally {
        wipeMountKeys(keys);
      }
    }, { openers: [opened] });
    await bumpKeysEpoch(ctx.store);
    return report;
  } finally {
    opened.privateKey.fill(0);
  }
}

/**
 * Removes `user`'s wraps and identity from a shared mount's keyring, rotates to a new current key
 * (wrapped to every remaining identity) and marks her revoked in the store. Needs no password: the
 * new key is fresh. Old keys stay (old files stay readable by the others). Throws DC_ERR_USAGE,
 * DC_ERR_NO_ACCESS (no keyring yet), store/backend errors.
 */
export async function revokeMount(ctx: CustodyContext, path: string, user: string): Promise<RevokeReport> {
  const { mount, mountId } = sharedMount(ctx, path, user, 'revoked');
  const backend = await backendOf(ctx, { mount });
  // The marker is set under the keyring mutex, where gateway logins re-read it before wrapping keys.
  const report = await ctx.services.keyrings.update(mountId, backend, async (keyring, edit) => {
    const identity = userIdentity(user);
    if (keyring.identities[identity] && Object.keys(keyring.identities).length === 1) {
      throw davError('DC_ERR_USAGE', `${user} is the only identity of ${mount.path}: revoking her would leave nobody able to open it`);
    }
    await markRevoked(ctx.store, mountId, user, true);
    const had = keyring.identities[identity] !== undefined;
    const removedWraps = removeIdentity(keyring, identity);
    if (!had && removedWraps === 0) return { save: false, result: { mountId, removedWraps, stillInConfig: false } as RevokeReport };
    const key = addCurrentKey(keyring, mountId, { tagKeys: edit.tagKeys, recipients: await trustedRecipients(ctx, keyring) });
    wipeMountKeys([key]);
    return { save: true, result: { mountId, removedWraps, newCurrent: key.id.toString('hex'), stillInConfig: false } as RevokeReport };
  }).catch(async (err: unknown) => {
    if (!isDavcryptError(err, 'DC_ERR_NO_ACCESS')) throw err;
    await markRevoked(ctx.store, mountId, user, true); // no keyring yet: nothing to remove, keep her out of the first key
    return { mountId, removedWraps: 0, stillInConfig: false } as RevokeReport;
  });
  report.stillInConfig = mountAllows(mount, user);
  await bumpKeysEpoch(ctx.store);
  return report;
}

/** Adds a new current key to a mount, wrapped to every identity of its keyring. Throws DC_ERR_USAGE, DC_ERR_NO_ACCESS. */
export async function rotateMount(ctx: CustodyContext, path: string, owner?: string): Promise<RotateReport> {
  const target = keyedMount(ctx, path, owner);
  const backend = await backendOf(ctx, target);
  const report = await ctx.services.keyrings.update(target.mountId, backend, async (keyring, edit) => {
    const previous = currentId(keyring);
    const recipients = await trustedRecipients(ctx, keyring);
    const key = addCurrentKey(keyring, target.mountId, { tagKeys: edit.tagKeys, recipients });
    wipeMountKeys([key]);
    const wrappedTo = keyring.keys.find((k) => k.id === key.id.toString('hex'))!.wraps.map((w) => w.to).sort();
    return { save: true, result: { mountId: target.mountId, previous, current: currentId(keyring), wrappedTo } };
  });
  await bumpKeysEpoch(ctx.store);
  return report;
}

/**
 * Every key of a mount the opener holds, as a key set whose current is the keyring's current key
 * (for re-encryption). Throws DC_ERR_NO_ACCESS when the opener does not hold the current key.
 */
export async function openMountKeys(ctx: CustodyContext, path: string, owner: string | undefined, opener: Opener): Promise<{ keys: MountKeySet; all: MountKey[]; missing: string[] }> {
  const target = keyedMount(ctx, path, owner);
  const backend = await backendOf(ctx, target);
  const opened = await openOpener(ctx, opener);
  try {
    const { keyring, held } = await ctx.services.keyrings.trusted(target.mountId, backend, [opened]);
    wipeMountKeys(held);
    if (!keyring) throw davError('DC_ERR_NO_ACCESS', `mount ${formatMountId(target.mountId)} has no keyring the gateway trusts yet`);
    if (!holdsPublicKey(keyring, opened.name, opened.publicKey)) {
      throw davError('DC_ERR_NO_ACCESS', `the keyring of ${formatMountId(target.mountId)} holds no identity ${opened.name} with this key`);
    }
    const { keys, missing } = unwrapEvery(keyring, opened.name, opened.privateKey);
    const currentHex = currentId(keyring);
    const current = keys.find((k) => k.id.toString('hex') === currentHex);
    if (!current) {
      wipeMountKeys(keys);
      throw davError('DC_ERR_NO_ACCESS', `the current key of ${formatMountId(target.mountId)} is not wrapped to ${opened.name}`);
    }
    return { keys: createMountKeySet(keys, current), all: keys, missing };
  } finally {
    opened.privateKey.fill(0);
  }
}

/**
 * Drops every old key of a mount except the current one and `keep` (ids still used by files).
 * Returns the dropped ids. Throws DC_ERR_USAGE, DC_ERR_NO_ACCESS, store/backend errors.
 */
export async function dropOldKeys(ctx: CustodyContext, path: string, owner: string | undefined, keep: Set<string>): Promise<string[]> {
  const target = keyedMount(ctx, path, owner);
  const backend = await backendOf(ctx, target);
  const dropped = await ctx.services.keyrings.update(target.mountId, backend, (keyring) => {
    const ids = dropKeysExcept(keyring, keep);
    return { save: ids.length > 0, result: ids };
  });
  if (dropped.length > 0) await bumpKeysEpoch(ctx.store);
  return dropped;
}
