// Keyring files (docs/FORMAT.md §3.3-§3.6): strict, bounded parse of "davcrypt-keyring/2" and of the
// older "davcrypt-keyring/1" (converted to the format 2 shape, without tags), stable
// serialization (always format 2), and mount key generation. Pure code: it never unwraps keys
// (wrap.ts / envelope.ts / keyring-tag.ts do), never decides trust and never does I/O.
import { davError } from '../errors.js';
import type { MountKey } from './mount-key.js';
import { KEY_ID_BYTES, MOUNT_KEY_BYTES } from './format.js';
import { ARGON2_LIMITS, ENVELOPE_SALT_BYTES, argon2ParamsProblem, type Argon2Bounds, type Envelope } from './envelope.js';
import { defaultRandom, type RandomSource } from './random.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, type KeyWrap } from './wrap.js';
import { X25519_KEY_BYTES } from './x25519.js';

export const KEYRING_FORMAT = 'davcrypt-keyring/2';
export const KEYRING_FORMAT_V1 = 'davcrypt-keyring/1';
/** Bytes of a keyring tag (HMAC-SHA-256). */
export const KEYRING_TAG_BYTES = 32;

/**
 * Size bounds on a keyring file (FORMAT.md §3.5). Anything beyond is DC_ERR_KEYRING_INVALID,
 * found before any per-entry work (the counts are checked right after JSON.parse).
 */
export const KEYRING_LIMITS = Object.freeze({
  /** Bytes of the file (UTF-8). */
  maxBytes: 16 * 1024 * 1024,
  maxKeys: 1024,
  maxIdentities: 4096,
  /** Wraps over all keys. */
  maxWraps: 65536,
  /** UTF-8 bytes of an identity name (e.g. "user:alice"). */
  maxNameBytes: 256,
  /** UTF-8 bytes of a mount id (e.g. "home:alice"). */
  maxMountBytes: 1024,
  /** Largest key sequence number (2^53 - 1: exact in JSON and in JavaScript). */
  maxSeq: Number.MAX_SAFE_INTEGER,
});

/** One mount key: its id, the mount it belongs to, its sequence number, creation time and wraps. */
export interface KeyringKey {
  /** 32 lowercase hex characters (the 16-byte key id). */
  id: string;
  /**
   * Id of the mount the key was made for ("home:alice", "shared:/team"); bound into every tag.
   * Empty only in memory, for a key read from a format 1 file (format 1 has no mount id).
   */
  mount: string;
  /** Sequence number: the current key is the trusted key with the highest one (ties: larger id). */
  seq: number;
  /** ISO 8601 timestamp (informational: not authenticated). */
  created: string;
  wraps: KeyWrap[];
}

/** One identity: its X25519 public key and, except for `master`, the password envelope of its private key. */
export interface KeyringIdentity {
  publicKey: string;
  envelope?: Envelope;
}

export interface Keyring {
  format: 'davcrypt-keyring/2';
  keys: KeyringKey[];
  /** By identity name: "user:NAME", "recovery", "master". */
  identities: Record<string, KeyringIdentity>;
  /** Set (in memory only, never serialized) when the text was format 1: no key carries a tag. */
  readFrom?: 'davcrypt-keyring/1';
}

export interface ParseKeyringOptions {
  /** Bounds for every envelope's argon2 parameters (default ARGON2_LIMITS); see foreignEnvelopeBounds. */
  argon2?: Argon2Bounds;
}

const HEX_ID = /^[0-9a-f]{32}$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

function invalid(field: string, problem: string): never {
  throw davError('DC_ERR_KEYRING_INVALID', `keyring ${field}: ${problem}`, { details: { field } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkFields(obj: Record<string, unknown>, field: string, required: string[], optional: string[] = []): void {
  for (const name of required) if (!(name in obj)) invalid(`${field}.${name}`, 'is missing');
  for (const name of Object.keys(obj)) {
    if (!required.includes(name) && !optional.includes(name)) invalid(`${field}.${name}`, 'is not a known field');
  }
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) invalid(field, 'must be a non-empty string');
  return v;
}

function b64(v: unknown, field: string, bytes: number): string {
  const s = str(v, field);
  if (s.length !== 4 * Math.ceil(bytes / 3) || !B64.test(s)) invalid(field, `must be standard base64 with padding of ${bytes} bytes`);
  if (Buffer.from(s, 'base64').length !== bytes) invalid(field, `must decode to ${bytes} bytes`);
  return s;
}

function int(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) invalid(field, 'must be an integer');
  return v;
}

/** True for the identity names the formats know: "user:NAME" (NAME non-empty), "recovery", "master". */
export function isIdentityName(name: string): boolean {
  return name === 'recovery' || name === 'master' || (name.startsWith('user:') && name.length > 5);
}

function parseEnvelope(v: unknown, field: string, bounds: Argon2Bounds): Envelope {
  if (!isObject(v)) invalid(field, 'must be an object');
  checkFields(v, field, ['kdf', 'm', 't', 'p', 'salt', 'nonce', 'ct']);
  if (v.kdf !== 'argon2id') invalid(`${field}.kdf`, 'must be "argon2id"');
  const params = { m: int(v.m, `${field}.m`), t: int(v.t, `${field}.t`), p: int(v.p, `${field}.p`) };
  const problem = argon2ParamsProblem(params, bounds);
  if (problem) invalid(`${field}.${problem[0]}`, `${problem} (limits ${JSON.stringify(bounds)})`);
  return {
    kdf: 'argon2id',
    ...params,
    salt: b64(v.salt, `${field}.salt`, ENVELOPE_SALT_BYTES),
    nonce: b64(v.nonce, `${field}.nonce`, GCM_NONCE_BYTES),
    ct: b64(v.ct, `${field}.ct`, X25519_KEY_BYTES + GCM_TAG_BYTES),
  };
}

function parseWrap(v: unknown, field: string, identities: Record<string, KeyringIdentity>, v2: boolean): KeyWrap {
  if (!isObject(v)) invalid(field, 'must be an object');
  checkFields(v, field, ['to', 'epk', 'nonce', 'ct'], v2 ? ['tag'] : []);
  const to = str(v.to, `${field}.to`);
  if (!Object.hasOwn(identities, to)) invalid(`${field}.to`, `names identity "${to}", which is not in identities`);
  const wrap: KeyWrap = {
    to,
    epk: b64(v.epk, `${field}.epk`, X25519_KEY_BYTES),
    nonce: b64(v.nonce, `${field}.nonce`, GCM_NONCE_BYTES),
    ct: b64(v.ct, `${field}.ct`, MOUNT_KEY_BYTES + GCM_TAG_BYTES),
  };
  if (v.tag !== undefined) wrap.tag = b64(v.tag, `${field}.tag`, KEYRING_TAG_BYTES);
  return wrap;
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Parses and validates a keyring, format 2 or format 1 (JSON text or an already parsed value).
 * Returns a fresh format 2 object with only the known fields. A format 1 keyring is converted: each
 * key gets mount "" and a sequence number (array order, 1..n, the old `current` key last, so it
 * stays current), no wrap has a tag, and `readFrom` says so. Throws DC_ERR_KEYRING_INVALID whose
 * message and details.field name the first bad field (e.g. "keys[0].wraps[1].epk"); the size
 * bounds (KEYRING_LIMITS) are checked before any entry is looked at.
 */
export function parseKeyring(input: string | unknown, options: ParseKeyringOptions = {}): Keyring {
  const bounds = options.argon2 ?? ARGON2_LIMITS;
  let raw: unknown = input;
  if (typeof input === 'string') {
    if (input.length > KEYRING_LIMITS.maxBytes || utf8Bytes(input) > KEYRING_LIMITS.maxBytes) {
      invalid('(file)', `is larger than ${KEYRING_LIMITS.maxBytes} bytes`);
    }
    try {
      raw = JSON.parse(input);
    } catch (err) {
      throw davError('DC_ERR_KEYRING_INVALID', `keyring is not valid JSON: ${(err as Error).message}`, {
        cause: err,
        details: { field: '(json)' },
      });
    }
  }
  if (!isObject(raw)) invalid('(root)', 'must be a JSON object');
  const v2 = raw.format === KEYRING_FORMAT;
  if (!v2 && raw.format !== KEYRING_FORMAT_V1) invalid('format', `must be "${KEYRING_FORMAT}" or "${KEYRING_FORMAT_V1}"`);
  checkFields(raw, '(root)', v2 ? ['format', 'keys', 'identities'] : ['format', 'current', 'keys', 'identities']);

  // Bounds first: a planted keyring with 40 000 keys is refused before any per-entry work.
  if (!isObject(raw.identities)) invalid('identities', 'must be an object');
  if (!Array.isArray(raw.keys) || raw.keys.length === 0) invalid('keys', 'must be a non-empty array');
  const identityNames = Object.keys(raw.identities);
  if (identityNames.length > KEYRING_LIMITS.maxIdentities) invalid('identities', `has more than ${KEYRING_LIMITS.maxIdentities} entries`);
  if (raw.keys.length > KEYRING_LIMITS.maxKeys) invalid('keys', `has more than ${KEYRING_LIMITS.maxKeys} entries`);
  let wrapCount = 0;
  for (const k of raw.keys) if (isObject(k) && Array.isArray(k.wraps)) wrapCount += k.wraps.length;
  if (wrapCount > KEYRING_LIMITS.maxWraps) invalid('keys', `hold more than ${KEYRING_LIMITS.maxWraps} wraps`);

  const identities: Record<string, KeyringIdentity> = {};
  for (const name of identityNames) {
    const value = raw.identities[name];
    const field = `identities["${name}"]`;
    if (!isIdentityName(name)) invalid(field, 'name must be "user:NAME", "recovery" or "master"');
    if (utf8Bytes(name) > KEYRING_LIMITS.maxNameBytes) invalid(field, `name is longer than ${KEYRING_LIMITS.maxNameBytes} bytes`);
    if (!isObject(value)) invalid(field, 'must be an object');
    checkFields(value, field, ['publicKey'], ['envelope']);
    const identity: KeyringIdentity = { publicKey: b64(value.publicKey, `${field}.publicKey`, X25519_KEY_BYTES) };
    if (name === 'master') {
      if (value.envelope !== undefined) invalid(`${field}.envelope`, 'the master identity has no envelope');
    } else {
      identity.envelope = parseEnvelope(value.envelope, `${field}.envelope`, bounds);
    }
    identities[name] = identity;
  }

  const seen = new Set<string>();
  const keys = raw.keys.map((k: unknown, i: number): KeyringKey => {
    const field = `keys[${i}]`;
    if (!isObject(k)) invalid(field, 'must be an object');
    checkFields(k, field, v2 ? ['id', 'mount', 'seq', 'created', 'wraps'] : ['id', 'created', 'wraps']);
    const id = str(k.id, `${field}.id`);
    if (!HEX_ID.test(id)) invalid(`${field}.id`, 'must be 32 lowercase hex characters');
    if (seen.has(id)) invalid(`${field}.id`, `duplicate key id ${id}`);
    seen.add(id);
    let mount = '';
    let seq = 0;
    if (v2) {
      mount = str(k.mount, `${field}.mount`);
      if (utf8Bytes(mount) > KEYRING_LIMITS.maxMountBytes) invalid(`${field}.mount`, `is longer than ${KEYRING_LIMITS.maxMountBytes} bytes`);
      seq = int(k.seq, `${field}.seq`);
      if (seq < 0 || seq > KEYRING_LIMITS.maxSeq) invalid(`${field}.seq`, `must be in 0..${KEYRING_LIMITS.maxSeq}`);
    }
    const created = str(k.created, `${field}.created`);
    if (!ISO_8601.test(created) || Number.isNaN(Date.parse(created))) {
      invalid(`${field}.created`, 'must be an ISO 8601 date-time with a time zone');
    }
    if (!Array.isArray(k.wraps)) invalid(`${field}.wraps`, 'must be an array');
    const wraps = k.wraps.map((w: unknown, j: number) => parseWrap(w, `${field}.wraps[${j}]`, identities, v2));
    const to = new Set<string>();
    wraps.forEach((w, j) => {
      if (to.has(w.to)) invalid(`${field}.wraps[${j}].to`, `a second wrap to "${w.to}" (at most one per identity and key)`);
      to.add(w.to);
    });
    return { id, mount, seq, created, wraps };
  });

  if (v2) return { format: KEYRING_FORMAT, keys, identities };
  const current = str(raw.current, 'current');
  if (!HEX_ID.test(current)) invalid('current', 'must be 32 lowercase hex characters');
  if (!seen.has(current)) invalid('current', `names key ${current}, which is not in keys`);
  // Format 1 has no sequence numbers: array order (keys were appended as they were made), current last.
  let next = 1;
  for (const k of keys) if (k.id !== current) k.seq = next++;
  keys.find((k) => k.id === current)!.seq = next;
  return { format: KEYRING_FORMAT, keys, identities, readFrom: KEYRING_FORMAT_V1 };
}

/**
 * Validates and serializes a keyring as format 2 pretty JSON (2 spaces, trailing newline) with a
 * fixed field order, keys in ascending (seq, id) order and identities sorted by name, so equal
 * keyrings serialize to equal bytes. Every key needs a non-empty mount. Throws DC_ERR_KEYRING_INVALID
 * like parseKeyring.
 */
export function serializeKeyring(k: Keyring): string {
  const plain = {
    format: KEYRING_FORMAT,
    keys: [...k.keys]
      .sort(compareKeys)
      .map((e) => ({ id: e.id, mount: e.mount, seq: e.seq, created: e.created, wraps: [...e.wraps].sort(compareWraps).map(plainWrap) })),
    identities: Object.fromEntries(
      Object.keys(k.identities)
        .sort()
        .map((name) => {
          const i = k.identities[name]!;
          return [name, i.envelope ? { publicKey: i.publicKey, envelope: plainEnvelope(i.envelope) } : { publicKey: i.publicKey }];
        }),
    ),
  };
  parseKeyring(plain);
  return `${JSON.stringify(plain, null, 2)}\n`;
}

function plainWrap(w: KeyWrap): KeyWrap {
  return w.tag === undefined ? { to: w.to, epk: w.epk, nonce: w.nonce, ct: w.ct } : { to: w.to, epk: w.epk, nonce: w.nonce, ct: w.ct, tag: w.tag };
}

function plainEnvelope(e: Envelope): Envelope {
  return { kdf: e.kdf, m: e.m, t: e.t, p: e.p, salt: e.salt, nonce: e.nonce, ct: e.ct };
}

function compareKeys(a: KeyringKey, b: KeyringKey): number {
  return a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function compareWraps(a: KeyWrap, b: KeyWrap): number {
  return a.to < b.to ? -1 : a.to > b.to ? 1 : 0;
}

/**
 * The key with the highest sequence number among `keys` (ties: the larger key id), or undefined
 * for none. Pass only trusted keys: that is the current key (FORMAT.md §3.6).
 */
export function highestKey<T extends { id: string; seq: number }>(keys: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const k of keys) if (!best || k.seq > best.seq || (k.seq === best.seq && k.id > best.id)) best = k;
  return best;
}

/** The largest sequence number among `keys` (0 for none). */
export function maxSeq(keys: Iterable<{ seq: number }>): number {
  let max = 0;
  for (const k of keys) if (k.seq > max) max = k.seq;
  return max;
}

/** A fresh mount key: 16-byte random id, then 32-byte random key (in that order from `random`). */
export function newMountKey(random: RandomSource = defaultRandom): MountKey {
  const id = random(KEY_ID_BYTES);
  const key = random(MOUNT_KEY_BYTES);
  return { id: Buffer.from(id), key: Buffer.from(key) };
}

/** 32 lowercase hex chars of a 16-byte key id. */
export function keyIdHex(id: Buffer): string {
  return id.toString('hex');
}
