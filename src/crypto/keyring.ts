// The keyring file "davcrypt-keyring/1" (docs/DESIGN.md §4): strict parse with errors
// naming the bad field, stable serialization, and mount key generation.
// Pure code: it never unwraps keys (wrap.ts / envelope.ts do) and never does I/O.
import { davError } from '../errors.js';
import type { MountKey } from './mount-key.js';
import { KEY_ID_BYTES, MOUNT_KEY_BYTES } from './format.js';
import { ARGON2_LIMITS, ENVELOPE_SALT_BYTES, argon2ParamsProblem, type Envelope } from './envelope.js';
import { defaultRandom, type RandomSource } from './random.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, type KeyWrap } from './wrap.js';
import { X25519_KEY_BYTES } from './x25519.js';

export const KEYRING_FORMAT = 'davcrypt-keyring/1';

/** One mount key: its id, creation time and its wraps to identities. */
export interface KeyringKey {
  /** 32 lowercase hex characters (the 16-byte key id). */
  id: string;
  /** ISO 8601 timestamp. */
  created: string;
  wraps: KeyWrap[];
}

/** One identity: its X25519 public key and, except for `master`, the password envelope of its private key. */
export interface KeyringIdentity {
  publicKey: string;
  envelope?: Envelope;
}

export interface Keyring {
  format: 'davcrypt-keyring/1';
  /** Id of the key new files are encrypted with; must be one of `keys`. */
  current: string;
  keys: KeyringKey[];
  /** By identity name: "user:NAME", "recovery", "master". */
  identities: Record<string, KeyringIdentity>;
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
  if (!B64.test(s)) invalid(field, 'must be standard base64 with padding');
  if (Buffer.from(s, 'base64').length !== bytes) invalid(field, `must decode to ${bytes} bytes`);
  return s;
}

function int(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) invalid(field, 'must be an integer');
  return v;
}

/** True for the identity names format 1 knows: "user:NAME" (NAME non-empty), "recovery", "master". */
export function isIdentityName(name: string): boolean {
  return name === 'recovery' || name === 'master' || (name.startsWith('user:') && name.length > 5);
}

function parseEnvelope(v: unknown, field: string): Envelope {
  if (!isObject(v)) invalid(field, 'must be an object');
  checkFields(v, field, ['kdf', 'm', 't', 'p', 'salt', 'nonce', 'ct']);
  if (v.kdf !== 'argon2id') invalid(`${field}.kdf`, 'must be "argon2id"');
  const params = { m: int(v.m, `${field}.m`), t: int(v.t, `${field}.t`), p: int(v.p, `${field}.p`) };
  const problem = argon2ParamsProblem(params);
  if (problem) invalid(`${field}.${problem[0]}`, `${problem} (limits ${JSON.stringify(ARGON2_LIMITS)})`);
  return {
    kdf: 'argon2id',
    ...params,
    salt: b64(v.salt, `${field}.salt`, ENVELOPE_SALT_BYTES),
    nonce: b64(v.nonce, `${field}.nonce`, GCM_NONCE_BYTES),
    ct: b64(v.ct, `${field}.ct`, X25519_KEY_BYTES + GCM_TAG_BYTES),
  };
}

function parseWrap(v: unknown, field: string, identities: Record<string, KeyringIdentity>): KeyWrap {
  if (!isObject(v)) invalid(field, 'must be an object');
  checkFields(v, field, ['to', 'epk', 'nonce', 'ct']);
  const to = str(v.to, `${field}.to`);
  if (!(to in identities)) invalid(`${field}.to`, `names identity "${to}", which is not in identities`);
  return {
    to,
    epk: b64(v.epk, `${field}.epk`, X25519_KEY_BYTES),
    nonce: b64(v.nonce, `${field}.nonce`, GCM_NONCE_BYTES),
    ct: b64(v.ct, `${field}.ct`, MOUNT_KEY_BYTES + GCM_TAG_BYTES),
  };
}

/**
 * Parses and validates a keyring (JSON text or an already parsed value). Returns a fresh object
 * with only the known fields. Throws DC_ERR_KEYRING_INVALID whose message and details.field name
 * the first bad field (e.g. "keys[0].wraps[1].epk").
 */
export function parseKeyring(input: string | unknown): Keyring {
  let raw: unknown = input;
  if (typeof input === 'string') {
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
  checkFields(raw, '(root)', ['format', 'current', 'keys', 'identities']);
  if (raw.format !== KEYRING_FORMAT) invalid('format', `must be "${KEYRING_FORMAT}"`);

  if (!isObject(raw.identities)) invalid('identities', 'must be an object');
  const identities: Record<string, KeyringIdentity> = {};
  for (const [name, value] of Object.entries(raw.identities)) {
    const field = `identities["${name}"]`;
    if (!isIdentityName(name)) invalid(field, 'name must be "user:NAME", "recovery" or "master"');
    if (!isObject(value)) invalid(field, 'must be an object');
    checkFields(value, field, ['publicKey'], ['envelope']);
    const identity: KeyringIdentity = { publicKey: b64(value.publicKey, `${field}.publicKey`, X25519_KEY_BYTES) };
    if (name === 'master') {
      if (value.envelope !== undefined) invalid(`${field}.envelope`, 'the master identity has no envelope');
    } else {
      identity.envelope = parseEnvelope(value.envelope, `${field}.envelope`);
    }
    identities[name] = identity;
  }

  if (!Array.isArray(raw.keys) || raw.keys.length === 0) invalid('keys', 'must be a non-empty array');
  const seen = new Set<string>();
  const keys = raw.keys.map((k: unknown, i: number): KeyringKey => {
    const field = `keys[${i}]`;
    if (!isObject(k)) invalid(field, 'must be an object');
    checkFields(k, field, ['id', 'created', 'wraps']);
    const id = str(k.id, `${field}.id`);
    if (!HEX_ID.test(id)) invalid(`${field}.id`, 'must be 32 lowercase hex characters');
    if (seen.has(id)) invalid(`${field}.id`, `duplicate key id ${id}`);
    seen.add(id);
    const created = str(k.created, `${field}.created`);
    if (!ISO_8601.test(created) || Number.isNaN(Date.parse(created))) {
      invalid(`${field}.created`, 'must be an ISO 8601 date-time with a time zone');
    }
    if (!Array.isArray(k.wraps)) invalid(`${field}.wraps`, 'must be an array');
    const wraps = k.wraps.map((w: unknown, j: number) => parseWrap(w, `${field}.wraps[${j}]`, identities));
    return { id, created, wraps };
  });

  const current = str(raw.current, 'current');
  if (!HEX_ID.test(current)) invalid('current', 'must be 32 lowercase hex characters');
  if (!seen.has(current)) invalid('current', `names key ${current}, which is not in keys`);
  return { format: KEYRING_FORMAT, current, keys, identities };
}

/**
 * Validates and serializes a keyring as pretty JSON (2 spaces, trailing newline) with a fixed
 * field order and identities sorted by name, so equal keyrings serialize to equal bytes.
 * Throws DC_ERR_KEYRING_INVALID like parseKeyring.
 */
export function serializeKeyring(k: Keyring): string {
  const valid = parseKeyring(k);
  const identities: Record<string, KeyringIdentity> = {};
  for (const name of Object.keys(valid.identities).sort()) identities[name] = valid.identities[name]!;
  return `${JSON.stringify({ ...valid, identities }, null, 2)}\n`;
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
