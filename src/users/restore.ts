// `davcrypt restore`, after a lost gateway store: finds the `user:NAME` identities in
// the keyrings of the configured encrypted mounts (every home found on the backend,
// every shared mount), plans which become accounts again, and writes only user records
// (public key + password envelope) once the operator confirmed the list. Opens no
// envelope and trusts nothing else from the backend: keys and wraps stay for the
// keyring service to judge, and each user still needs her own password to log in.
import { createHash } from 'node:crypto';
import type { Config, MountConfig } from '../config/types.js';
import { ARGON2_LIMITS, type Envelope, type Keyring } from '../crypto/index.js';
import { publishAccount } from '../events.js';
import { formatMountId, homeMountId, sameMountId, type MountId } from '../keys/mount-id.js';
import type { UserRecord } from './records.js';
import { isValidUserName, userIdentity } from './names.js';
import { mountAllows } from './mount-backends.js';
import type { UserServices } from './services.js';

/** One identity of a user as a keyring on the backend (or the store) holds it. */
export interface FoundIdentity {
  mountId: MountId;
  /** Found in one of her own homes (a `{user}` mount) rather than a shared mount. */
  home: boolean;
  publicKey: string;
  envelope: Envelope;
}

export type RestoreStatus = 'adopt' | 'exists' | 'removed' | 'conflict' | 'out-of-bounds';

/** What restore does with one user name. */
export interface RestoreEntry {
  name: string;
  status: RestoreStatus;
  /** The identity to adopt (status adopt; for the others the first one found). */
  publicKey: string;
  /** SHA-256 of the raw public key, hex in groups of four (compare with `user list` from before the loss). */
  fingerprint: string;
  envelope: Envelope;
  /** Keyrings holding this identity. */
  sources: MountId[];
  /** Keyrings holding another public key for the same user (never adopted from there). */
  differing: MountId[];
  /** Why it is not adopted (all but adopt). */
  reason?: string;
}

export interface RestorePlan {
  entries: RestoreEntry[];
  /**
   * Keyrings that could not be read (the message names the code): `where` is a mount id's string
   * form, or 'home:*:PATH' for a per-user mount whose home folders could not be listed.
   */
  unreadable: { where: string; error: string }[];
}

/** SHA-256 of a raw public key (standard base64 in), hex in groups of four: `1a2b 3c4d ...`. */
export function publicKeyFingerprint(publicKeyB64: string): string {
  const hex = createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex');
  return hex.match(/.{4}/g)!.join(' ');
}

/**
 * Argon2 cost of an envelope the gateway did not write must stay near the configured one, or a
 * planted envelope would make every login of the restored account cost gigabytes and minutes.
 * Returns the problem, or undefined when within m <= 4x the configured m, t <= 16, p <= 16.
 */
export function envelopeCostProblem(envelope: Envelope, configured: Config['keys']['argon2']): string | undefined {
  if (envelope.m > 4 * configured.m) return `argon2 m = ${envelope.m} KiB is more than 4x the configured ${configured.m}`;
  if (envelope.t > 16) return `argon2 t = ${envelope.t} is more than 16`;
  if (envelope.p > 16) return `argon2 p = ${envelope.p} is more than 16`;
  return undefined;
}

/**
 * Scans the backends of every encrypted mount and plans the restore. `only`: restrict to these
 * names (their homes are then looked up directly, not listed). Reads keyrings only (the store
 * copy and the backend copy; the store copy's entry wins for a name both hold); writes nothing. Home folders that cannot be listed and keyrings
 * that cannot be read land in `unreadable`; throws store errors only.
 */
export async function planRestore(config: Config, services: UserServices, only: string[] = []): Promise<RestorePlan> {
  const found = new Map<string, FoundIdentity[]>();
  const unreadable: RestorePlan['unreadable'] = [];
  const wanted = (name: string) => isValidUserName(name) && (only.length === 0 || only.includes(name));
  // `owner`: whose home a per-user mount is; undefined for a shared mount.
  const collect = async (mount: MountConfig, owner: string | undefined, accept: (name: string) => boolean) => {
    const mountId = services.backends.mountId(mount, owner);
    // The store copy names only identities the gateway vouched for (keyring format 2 takes none from
    // the backend); the backend copy may name others: both are read, the store copy's entries win.
    let stored: Keyring | undefined;
    let remote: Keyring | undefined;
    try {
      stored = await services.keyrings.getStored(mountId);
      remote = await readBackendKeyring(services, mount, owner);
    } catch (err) {
      if (!stored) {
        unreadable.push({ where: formatMountId(mountId), error: `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}` });
        return;
      }
    }
    if (!stored && !remote) return;
    const identities = { ...(remote?.identities ?? {}), ...(stored?.identities ?? {}) };
    for (const [identity, entry] of Object.entries(identities)) {
      if (!identity.startsWith('user:') || !entry.envelope) continue;
      const name = identity.slice('user:'.length);
      if (!wanted(name) || !accept(name)) continue;
      const list = found.get(name) ?? [];
      list.push({ mountId, home: mount.perUser, publicKey: entry.publicKey, envelope: entry.envelope });
      found.set(name, list);
    }
  };
  for (const mount of config.mounts) {
    if (!mount.encrypt) continue;
    if (mount.perUser) {
      // Named users need no listing (a WebDAV parent folder often may not be listed); otherwise list homes.
      let names = only;
      if (only.length === 0) {
        try {
          names = await services.backends.homeNames(mount);
        } catch (err) {
          unreadable.push({ where: `home:*:${mount.path}`, error: `${(err as { code?: string }).code ?? 'error'}: cannot list the home folders: ${(err as Error).message}; name the users with --user` });
          continue;
        }
      }
      for (const name of names) {
        // A home holds exactly one account: its owner's (anything else in it is not hers to give).
        if (wanted(name) && mountAllows(mount, name)) await collect(mount, name, (n) => n === name);
      }
    } else {
      await collect(mount, undefined, (n) => mountAllows(mount, n));
    }
  }
  const entries: RestoreEntry[] = [];
  for (const name of [...found.keys()].sort()) entries.push(await decide(config, services, name, found.get(name)!));
  return { entries, unreadable };
}

async function decide(config: Config, services: UserServices, name: string, list: FoundIdentity[]): Promise<RestoreEntry> {
  // Her home's identity wins (the '/' home first); shared keyrings must agree with it or are ignored.
  const homes = list.filter((f) => f.home);
  const rootHome = homes.find((f) => sameMountId(f.mountId, homeMountId(name, '/')));
  const chosen = rootHome ?? homes[0] ?? list[0]!;
  const same = list.filter((f) => f.publicKey === chosen.publicKey);
  const other = list.filter((f) => f.publicKey !== chosen.publicKey);
  const entry: RestoreEntry = {
    name,
    status: 'adopt',
    publicKey: chosen.publicKey,
    fingerprint: publicKeyFingerprint(chosen.publicKey),
    envelope: chosen.envelope,
    sources: same.map((f) => f.mountId),
    differing: other.map((f) => f.mountId),
  };
  if (await services.records.get(name)) return { ...entry, status: 'exists', reason: 'an account of this name is in the store (kept as it is)' };
  if (await services.records.wasRemoved(name)) return { ...entry, status: 'removed', reason: 'removed with davcrypt user remove (the marker is in the store)' };
  if (homes.length === 0 && other.length > 0) {
    return { ...entry, status: 'conflict', reason: `the shared keyrings hold different identities for ${userIdentity(name)}; add her with davcrypt user add (her password picks the one it opens)` };
  }
  const cost = envelopeCostProblem(chosen.envelope, config.keys.argon2);
  if (cost) return { ...entry, status: 'out-of-bounds', reason: `${cost}: not written by this gateway's settings` };
  return entry;
}

/** Writes the user records of every `adopt` entry. Returns the names written. Throws store errors. */
export async function applyRestore(services: UserServices, plan: RestorePlan): Promise<string[]> {
  const done: string[] = [];
  for (const e of plan.entries) {
    if (e.status !== 'adopt') continue;
    // Re-checked here: an account added or removed since the plan was shown wins.
    if ((await services.records.get(e.name)) || (await services.records.wasRemoved(e.name))) continue;
    const now = new Date().toISOString();
    const record: UserRecord = { name: e.name, publicKey: e.publicKey, envelope: e.envelope, created: now, updated: now };
    await services.records.put(record);
    publishAccount({ operation: 'adopt', user: e.name, source: 'restore' }); // ops: audit + metrics
    done.push(e.name);
  }
  return done;
}

async function readBackendKeyring(services: UserServices, mount: MountConfig, user: string | undefined): Promise<Keyring | undefined> {
  // probe: opens nothing that stays open and creates no folder (a home that is not there is skipped).
  const backend = await services.backends.probe(mount, user);
  if (!backend) return undefined;
  try {
    // restore never opens an envelope; it lists each one's argon2 cost as out-of-bounds itself (decide()).
    return await services.keyrings.readBackendCopy(backend, { argon2: ARGON2_LIMITS });
  } finally {
    await backend.close();
  }
}
