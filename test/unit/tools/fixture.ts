// Builds a storage folder the way the gateway lays it out (docs/DESIGN.md §3-§4): a keyring at
// <root>/.davcrypt/keyring.json with tiny argon2 params, and files encrypted with the
// mount key. Used by the tools tests; touches only the folder it is given.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  computeWrapTag,
  createEncryptStream,
  deriveTagKey,
  generateIdentityKeyPair,
  newMountKey,
  sealIdentity,
  serializeKeyring,
  wrapMountKey,
  type Keyring,
} from '../../../src/crypto/index.js';
import type { MountKey } from '../../../src/keys/index.js';

export const TINY_ARGON2 = { m: 64, t: 1, p: 1 };

/** Deterministic bytes: byte i = (i * 7 + seed) mod 256. */
export function patternBytes(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function encryptBytes(key: MountKey, plain: Buffer, segmentExponent = 12): Promise<Buffer> {
  return buffer(Readable.from([plain]).pipe(createEncryptStream({ key, segmentExponent })));
}

export interface StorageSpec {
  /** identity name ('user:alice', 'recovery') → password. */
  identities: Record<string, string>;
  /** Encrypted files: backend path → plaintext. */
  files?: Record<string, Buffer | string>;
  /** Files stored as they are (not encrypted). */
  plain?: Record<string, Buffer | string>;
  segmentExponent?: number;
  /** Extra older key (rotation): files listed here are encrypted with it. */
  oldKeyFiles?: Record<string, Buffer | string>;
  /** Mount id bound into the keyring tags (default "fixture"). */
  mount?: string;
  /** Leave every wrap without a tag (keys open but are not authenticated). */
  untagged?: boolean;
}

export interface BuiltStorage {
  key: MountKey;
  oldKey?: MountKey;
  keyring: Keyring;
}

/**
 * Writes a mount rooted at `root` (a local folder): a keyring in format 2 whose wraps carry each
 * identity's keyring tag for mount `spec.mount` (default "fixture"), unless `spec.untagged`.
 */
export async function buildMount(root: string, spec: StorageSpec): Promise<BuiltStorage> {
  const key = newMountKey();
  const oldKey = spec.oldKeyFiles ? newMountKey() : undefined;
  const mount = spec.mount ?? 'fixture';
  const keyring: Keyring = { format: 'davcrypt-keyring/2', keys: [], identities: {} };
  const pairs: { name: string; publicKey: Buffer; privateKey: Buffer }[] = [];
  for (const [name, password] of Object.entries(spec.identities)) {
    const pair = generateIdentityKeyPair();
    keyring.identities[name] = {
      publicKey: pair.publicKey.toString('base64'),
      envelope: await sealIdentity(pair.privateKey, name, password, TINY_ARGON2),
    };
    pairs.push({ name, publicKey: pair.publicKey, privateKey: pair.privateKey });
  }
  (oldKey ? [oldKey, key] : [key]).forEach((k, i) => {
    const entry = { id: k.id.toString('hex'), mount, seq: i + 1, created: new Date().toISOString(), wraps: [] as ReturnType<typeof wrapMountKey>[] };
    for (const p of pairs) {
      const wrap = wrapMountKey(k, p.publicKey, p.name);
      if (!spec.untagged) wrap.tag = computeWrapTag(deriveTagKey(p.privateKey), mount, entry, wrap, k.key);
      entry.wraps.push(wrap);
    }
    keyring.keys.push(entry);
  });
  await mkdir(join(root, '.davcrypt'), { recursive: true });
  await writeFile(join(root, '.davcrypt', 'keyring.json'), serializeKeyring(keyring));
  const put = async (path: string, data: Buffer) => {
    const abs = join(root, ...path.split('/').filter(Boolean));
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, data);
  };
  const e = spec.segmentExponent ?? 12;
  for (const [path, plain] of Object.entries(spec.files ?? {})) await put(path, await encryptBytes(key, Buffer.from(plain), e));
  for (const [path, plain] of Object.entries(spec.oldKeyFiles ?? {})) await put(path, await encryptBytes(oldKey!, Buffer.from(plain), e));
  for (const [path, data] of Object.entries(spec.plain ?? {})) await put(path, Buffer.from(data));
  return { key, oldKey, keyring };
}
