// Keyring tags (keyring format 2, FORMAT.md §3.4): who holds identity I's private key can
// vouch for a mount key wrapped to I, and nobody else can. tagKey_I = HKDF(d_I, salt P_I,
// info "davcrypt/keyring-tag/v2"); tag = HMAC(tagKey_I, mount id, identity name, key id,
// SHA-256(key), wrap bytes, key sequence number). Pure code: no I/O, no trust decisions
// beyond "this tag verifies".
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { davError, isDavcryptError } from '../errors.js';
import { KEY_ID_BYTES, MOUNT_KEY_BYTES } from './format.js';
import { KEYRING_TAG_BYTES, type Keyring, type KeyringKey } from './keyring.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, unwrapMountKey, type KeyWrap } from './wrap.js';
import { X25519_KEY_BYTES, publicKeyFromPrivate } from './x25519.js';

export const KEYRING_TAG_INFO = 'davcrypt/keyring-tag/v2';

/** Identity name → tag key, for the identities whose tags the caller may write or check. */
export type TagKeys = ReadonlyMap<string, Buffer>;

/**
 * tagKey_I = HKDF-SHA-256(ikm = the 32 raw private key bytes, salt = the 32-byte public key,
 * info = "davcrypt/keyring-tag/v2", L = 32). Throws DC_ERR_BAD_REQUEST for a wrong key length.
 */
export function deriveTagKey(privateKey: Buffer): Buffer {
  const publicKey = publicKeyFromPrivate(privateKey);
  return Buffer.from(hkdfSync('sha256', privateKey, publicKey, Buffer.from(KEYRING_TAG_INFO, 'utf8'), 32));
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * The exact bytes a tag covers (FORMAT.md §3.4):
 * u16(|M|) || M || u16(|N|) || N || KID (16) || SHA-256(K) (32) || E (32) || nonce (12) || ct (48) || u64(seq),
 * M = UTF-8 mount id, N = UTF-8 identity name (the wrap's "to"). Throws DC_ERR_BAD_REQUEST for
 * malformed fields.
 */
export function tagInput(mount: string, entry: Pick<KeyringKey, 'id' | 'seq'>, wrap: KeyWrap, key: Buffer): Buffer {
  const m = Buffer.from(mount, 'utf8');
  const n = Buffer.from(wrap.to, 'utf8');
  const kid = Buffer.from(entry.id, 'hex');
  const epk = Buffer.from(wrap.epk, 'base64');
  const nonce = Buffer.from(wrap.nonce, 'base64');
  const ct = Buffer.from(wrap.ct, 'base64');
  if (
    m.length === 0 || m.length > 0xffff || n.length === 0 || n.length > 0xffff ||
    kid.length !== KEY_ID_BYTES || key.length !== MOUNT_KEY_BYTES ||
    epk.length !== X25519_KEY_BYTES || nonce.length !== GCM_NONCE_BYTES || ct.length !== MOUNT_KEY_BYTES + GCM_TAG_BYTES ||
    !Number.isSafeInteger(entry.seq) || entry.seq < 0
  ) {
    throw davError('DC_ERR_BAD_REQUEST', 'keyring tag input has malformed fields');
  }
  const digest = createHash('sha256').update(key).digest();
  return Buffer.concat([u16(m.length), m, u16(n.length), n, kid, digest, epk, nonce, ct, u64(entry.seq)]);
}

/** The tag (standard base64 of 32 bytes) of `wrap` of `key` in `entry`, for mount `mount`. */
export function computeWrapTag(tagKey: Buffer, mount: string, entry: Pick<KeyringKey, 'id' | 'seq'>, wrap: KeyWrap, key: Buffer): string {
  return createHmac('sha256', tagKey).update(tagInput(mount, entry, wrap, key)).digest('base64');
}

/** True when `wrap.tag` is the tag of this wrap of `key` for mount `mount` (constant-time compare). */
export function wrapTagValid(tagKey: Buffer, mount: string, entry: Pick<KeyringKey, 'id' | 'seq'>, wrap: KeyWrap, key: Buffer): boolean {
  if (wrap.tag === undefined) return false;
  const given = Buffer.from(wrap.tag, 'base64');
  if (given.length !== KEYRING_TAG_BYTES) return false;
  let expected: Buffer;
  try {
    expected = createHmac('sha256', tagKey).update(tagInput(mount, entry, wrap, key)).digest();
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_BAD_REQUEST')) return false;
    throw err;
  }
  return timingSafeEqual(given, expected);
}

/**
 * The verification rule (FORMAT.md §3.6) once the wrap opened to `key`: the key's mount field is
 * non-empty and equals `mount` when the verifier knows its mount id, and the wrap's tag verifies
 * over the key's mount field.
 */
export function keyAuthenticated(tagKey: Buffer, entry: Pick<KeyringKey, 'id' | 'seq' | 'mount'>, wrap: KeyWrap, key: Buffer, mount?: string): boolean {
  if (entry.mount === '' || (mount !== undefined && entry.mount !== mount)) return false;
  return wrapTagValid(tagKey, entry.mount, entry, wrap, key);
}

/** What one identity can open in a keyring, split by whether its own tag vouches for the key. */
export interface OpenedKeys {
  /** Key id (32 hex) → key, for keys whose wrap to the identity carries a valid tag of the identity. */
  authenticated: Map<string, Buffer>;
  /** Key id → key, for keys that opened but whose tag is missing or wrong (format 1, or planted). */
  unauthenticated: Map<string, Buffer>;
  /** Wraps to the identity that did not open: key id and error code. */
  failures: { keyId: string; code: string }[];
}

/**
 * Opens every key of `keyring` wrapped to `identity` and checks it with keyAuthenticated: against
 * `mount` when given (the gateway: its own mount id); without it (offline tools, which do not know
 * the mount id) any mount field is accepted. Never throws for a wrap that does not open (listed in failures).
 */
export function openKeyringFor(keyring: Keyring, identity: string, privateKey: Buffer, options: { mount?: string; tagKey?: Buffer } = {}): OpenedKeys {
  const tagKey = options.tagKey ?? deriveTagKey(privateKey);
  const out: OpenedKeys = { authenticated: new Map(), unauthenticated: new Map(), failures: [] };
  for (const entry of keyring.keys) {
    const wrap = entry.wraps.find((w) => w.to === identity);
    if (!wrap) continue;
    let key: Buffer;
    try {
      key = unwrapMountKey(wrap, Buffer.from(entry.id, 'hex'), privateKey);
    } catch (err) {
      out.failures.push({ keyId: entry.id, code: isDavcryptError(err) ? err.code : 'DC_ERR_INTERNAL' });
      continue;
    }
    if (keyAuthenticated(tagKey, entry, wrap, key, options.mount)) out.authenticated.set(entry.id, key);
    else out.unauthenticated.set(entry.id, key);
  }
  return out;
}
