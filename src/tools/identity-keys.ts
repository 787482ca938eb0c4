// Offline key access for the tools: reads a keyring copy from storage (bounded: size,
// counts, argon2 parameters checked before any argon2 work), opens an identity envelope
// with a password (argon2id, once per distinct envelope), or takes the `master`
// identity's private key from the master key file, and unwraps every mount key wrapped
// to that identity, split by whether the identity's own keyring tag vouches for it
// (FORMAT.md §3.6): only those are authenticated. Holds private keys in memory only;
// wipe() drops them. Never writes a keyring.
import { timingSafeEqual } from 'node:crypto';
import { KEYRING_FILE, METADATA_FOLDER as KEYRING_FOLDER, joinPath, type Backend } from '../backends/index.js';
import {
  KEYRING_LIMITS,
  foreignEnvelopeBounds,
  highestKey,
  openIdentity,
  openKeyringFor,
  parseKeyring,
  publicKeyFromPrivate,
  type Argon2Bounds,
  type Keyring,
} from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import { MASTER_IDENTITY, readMasterKeyFile } from '../keys/index.js';

/** Path of the keyring of a mount rooted at `dir` (a normalized backend path). */
export function keyringPathOf(dir: string): string {
  return joinPath(joinPath(dir, KEYRING_FOLDER), KEYRING_FILE);
}

/** Bounds for envelopes in keyrings read offline (no config: 4x the default argon2 m). */
export const OFFLINE_ENVELOPE_BOUNDS: Argon2Bounds = foreignEnvelopeBounds();

/**
 * Reads `<dir>/.davcrypt/keyring.json`; undefined when there is none. Bounded (FORMAT.md §3.5):
 * larger than KEYRING_LIMITS.maxBytes, too many keys, or an envelope beyond `bounds` (default
 * OFFLINE_ENVELOPE_BOUNDS) is DC_ERR_KEYRING_INVALID at once. Throws that and backend errors.
 */
export async function readKeyringAt(backend: Backend, dir: string, signal?: AbortSignal, bounds: Argon2Bounds = OFFLINE_ENVELOPE_BOUNDS): Promise<Keyring | undefined> {
  const chunks: Buffer[] = [];
  try {
    const { body } = await backend.read(keyringPathOf(dir), { signal });
    let total = 0;
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > KEYRING_LIMITS.maxBytes) {
        body.destroy();
        throw davError('DC_ERR_KEYRING_INVALID', `keyring ${keyringPathOf(dir)} is larger than ${KEYRING_LIMITS.maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_NOT_FOUND') || isDavcryptError(err, 'DC_ERR_CONFLICT')) return undefined;
    throw err;
  }
  return parseKeyring(Buffer.concat(chunks).toString('utf8'), { argon2: bounds });
}

/** The unwrapped mount keys of one keyring for one identity, by key id (32 lowercase hex). */
export interface UnlockedKeyring {
  /** Keys the identity's own keyring tag vouches for (or, config form, that the gateway store holds). */
  keys: Map<string, Buffer>;
  /** Keys that opened but carry no valid tag of this identity: used only with --trust-unauthenticated. */
  unauthenticated: Map<string, Buffer>;
  /** Id of the keyring's newest key (highest sequence number), and whether it is authenticated for this identity. */
  current: string;
  holdsCurrent: boolean;
  /** Wraps to this identity that did not open (altered keyring): key id and error code. */
  unwrapFailures: { keyId: string; code: string }[];
}

/** Opens one identity's keys in any number of keyrings (what KeyScopes needs). */
export interface KeyUnlocker {
  /** "user:NAME", "recovery" or "master". */
  readonly identity: string;
  /**
   * Unwraps every key of `keyring` wrapped to this identity. Throws DC_ERR_NO_ACCESS (identity
   * absent, or no key opens), DC_ERR_WRONG_PASSWORD, DC_ERR_KEYRING_INVALID.
   */
  unlock(keyring: Keyring): Promise<UnlockedKeyring>;
  /** Overwrites the private keys it holds (best effort). */
  wipe(): void;
}

function noIdentity(keyring: Keyring, identity: string): Error {
  const known = Object.keys(keyring.identities).join(', ') || 'none';
  return davError('DC_ERR_NO_ACCESS', `this keyring has no identity ${identity} (it has: ${known})`, { details: { identity } });
}

/**
 * Opens one identity ("user:NAME" or "recovery") in any number of keyrings with one password.
 * Each distinct envelope costs one argon2id run; the result is cached for the next keyring.
 */
export class IdentityUnlocker implements KeyUnlocker {
  private readonly opened = new Map<string, Buffer>();

  constructor(readonly identity: string, private readonly password: string, private readonly bounds: Argon2Bounds = OFFLINE_ENVELOPE_BOUNDS) {}

  /**
   * Unwraps every key of `keyring` wrapped to this identity. Throws DC_ERR_NO_ACCESS (identity
   * absent, or no key wrapped to it), DC_ERR_WRONG_PASSWORD, DC_ERR_KEYRING_INVALID (envelope does
   * not match the identity's public key).
   */
  async unlock(keyring: Keyring): Promise<UnlockedKeyring> {
    const entry = keyring.identities[this.identity];
    if (!entry?.envelope) throw noIdentity(keyring, this.identity);
    const cacheKey = `${entry.publicKey}|${entry.envelope.salt}|${entry.envelope.ct}`;
    let privateKey = this.opened.get(cacheKey);
    if (!privateKey) {
      privateKey = await openIdentity(entry.envelope, this.identity, this.password, this.bounds);
      const expected = Buffer.from(entry.publicKey, 'base64');
      const actual = publicKeyFromPrivate(privateKey);
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
        privateKey.fill(0);
        throw davError('DC_ERR_KEYRING_INVALID', `identity ${this.identity}: envelope does not match its public key`);
      }
      this.opened.set(cacheKey, privateKey);
    }
    return unwrapAllFor(keyring, this.identity, privateKey);
  }

  /** Overwrites the opened private keys (best effort). */
  wipe(): void {
    for (const k of this.opened.values()) k.fill(0);
    this.opened.clear();
  }
}

/**
 * Opens the `master` identity (keys.mode: master) with the private key of the master key file.
 * The keyring holds only its public key (no envelope, docs/DESIGN.md §4), so no password is needed;
 * a keyring whose master public key differs from the file's is refused (another key file).
 */
export class MasterKeyUnlocker implements KeyUnlocker {
  readonly identity = MASTER_IDENTITY;
  private readonly publicKey: Buffer;

  /** Takes ownership of `privateKey` (wipe() overwrites it). */
  constructor(private readonly privateKey: Buffer) {
    this.publicKey = publicKeyFromPrivate(privateKey);
  }

  /** Throws DC_ERR_NO_ACCESS (no master identity, another master key, no key wrapped to it). */
  async unlock(keyring: Keyring): Promise<UnlockedKeyring> {
    const entry = keyring.identities[MASTER_IDENTITY];
    if (!entry) throw noIdentity(keyring, MASTER_IDENTITY);
    const expected = Buffer.from(entry.publicKey, 'base64');
    if (expected.length !== this.publicKey.length || !timingSafeEqual(expected, this.publicKey)) {
      throw davError('DC_ERR_NO_ACCESS', 'this keyring\'s master identity has another public key than the master key file (wrong key file?)', {
        details: { identity: MASTER_IDENTITY },
      });
    }
    return unwrapAllFor(keyring, MASTER_IDENTITY, this.privateKey);
  }

  wipe(): void {
    this.privateKey.fill(0);
  }
}

/**
 * Reads a master key file into a MasterKeyUnlocker. Throws DC_ERR_CONFIG (missing, unreadable,
 * malformed, readable by group or others).
 */
export async function openMasterKeyFile(path: string): Promise<MasterKeyUnlocker> {
  const master = await readMasterKeyFile(path);
  return new MasterKeyUnlocker(master.privateKey);
}

/**
 * Unwraps every key of `keyring` wrapped to `identity` with its open private key and checks each
 * one's keyring tag against the key's own mount id (offline: the gateway's mount id is not known).
 * Wraps that do not open are listed, not thrown. Throws DC_ERR_NO_ACCESS when no key at all opens.
 */
export function unwrapAllFor(keyring: Keyring, identity: string, privateKey: Buffer): UnlockedKeyring {
  const opened = openKeyringFor(keyring, identity, privateKey);
  if (opened.authenticated.size + opened.unauthenticated.size === 0) {
    throw davError('DC_ERR_NO_ACCESS', `no key of this keyring opens with identity ${identity}`, {
      details: { identity, unwrapFailures: opened.failures.length },
    });
  }
  const current = highestKey(keyring.keys)!.id;
  return {
    keys: opened.authenticated,
    unauthenticated: opened.unauthenticated,
    current,
    holdsCurrent: opened.authenticated.has(current),
    unwrapFailures: opened.failures,
  };
}

/**
 * "user:NAME" for --user NAME, "recovery" for --recovery, "master" for --master-key FILE.
 * Throws DC_ERR_USAGE unless exactly one is given.
 */
export function identityFromFlags(user: string | undefined, recovery: boolean | undefined, masterKeyFile?: string): string {
  const given = [user !== undefined, recovery === true, masterKeyFile !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw davError('DC_ERR_USAGE', 'give exactly one of --user NAME, --recovery or --master-key FILE');
  }
  if (masterKeyFile !== undefined) return MASTER_IDENTITY;
  return recovery ? 'recovery' : `user:${user}`;
}
