// A hostile storage provider, for attack tests: it writes on the backend (a local
// folder, or a WebDAV share such as Apache mod_dav) using only docs/FORMAT.md, node:crypto,
// argon2 and public keys. Nothing here imports davcrypt's src/: what it forges must
// follow from the published format alone, as a real attacker's would.
//
//   const backend = localBackendFiles(storageRoot);            // or webdavBackendFiles(url, user, pw)
//   const mallory = await forgeIdentity('user:mallory', 'attacker-pw');
//   await backend.put('mallory/.davcrypt/keyring.json', forgeKeyring([mallory]));
//   await backend.replace('alice/doc.txt', Buffer.from('not what alice wrote'));
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import argon2 from 'argon2';
import { request } from 'undici';

/** An X25519 identity the attacker made, with its password envelope (FORMAT §3.2). */
export interface ForgedIdentity {
  name: string;
  password: string;
  publicKey: Buffer;
  privateKey: Buffer;
  entry: { publicKey: string; envelope: Record<string, unknown> };
}

/** Cheap argon2 by default (the attacker chooses the cost: FORMAT §3.2). */
export async function forgeIdentity(name: string, password: string, cost = { m: 1024, t: 1, p: 1 }): Promise<ForgedIdentity> {
  const { publicKey, privateKey } = rawX25519Pair();
  const salt = randomBytes(16);
  const kek = await argon2.hash(password, { type: argon2.argon2id, salt, raw: true, hashLength: 32, memoryCost: cost.m, timeCost: cost.t, parallelism: cost.p });
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(`davcrypt/identity/v1:${name}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(privateKey), cipher.final(), cipher.getAuthTag()]);
  const envelope = { kdf: 'argon2id', m: cost.m, t: cost.t, p: cost.p, salt: salt.toString('base64'), nonce: nonce.toString('base64'), ct: ct.toString('base64') };
  return { name, password, publicKey, privateKey, entry: { publicKey: publicKey.toString('base64'), envelope } };
}

/** A keyring (format 1, FORMAT §3.3) with one fresh mount key wrapped to each identity; returns the JSON and the key. */
export function forgeKeyring(identities: ForgedIdentity[]): { json: string; mountKey: Buffer; keyId: Buffer } {
  const mountKey = randomBytes(32);
  const keyId = randomBytes(16);
  const wraps = identities.map((i) => ({ to: i.name, ...wrapTo(mountKey, keyId, i.publicKey) }));
  const keyring = {
    format: 'davcrypt-keyring/1',
    current: keyId.toString('hex'),
    keys: [{ id: keyId.toString('hex'), created: new Date().toISOString(), wraps }],
    identities: Object.fromEntries(identities.map((i) => [i.name, i.entry])),
  };
  return { json: JSON.stringify(keyring, null, 2) + '\n', mountKey, keyId };
}

/** Wrap of a mount key to a public key (FORMAT §3.1). */
export function wrapTo(mountKey: Buffer, keyId: Buffer, recipient: Buffer): { epk: string; nonce: string; ct: string } {
  const eph = rawX25519Pair();
  const z = diffieHellman({ privateKey: privateKeyObject(eph.privateKey), publicKey: publicKeyObject(recipient) });
  const w = Buffer.from(hkdfSync('sha256', z, Buffer.concat([eph.publicKey, recipient]), Buffer.from('davcrypt/wrap/v1'), 32));
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', w, nonce);
  cipher.setAAD(keyId);
  const ct = Buffer.concat([cipher.update(mountKey), cipher.final(), cipher.getAuthTag()]);
  return { epk: eph.publicKey.toString('base64'), nonce: nonce.toString('base64'), ct: ct.toString('base64') };
}

/**
 * What the attacker gets out of a keyring with its own private key: every mount key wrapped to
 * `identity` that opens (FORMAT §3.1). An empty list means the attack got nothing.
 */
export function keysOpenedBy(keyringJson: string, identity: ForgedIdentity): Buffer[] {
  const keyring = JSON.parse(keyringJson) as { keys: { id: string; wraps: { to: string; epk: string; nonce: string; ct: string }[] }[] };
  const out: Buffer[] = [];
  for (const key of keyring.keys) {
    for (const wrap of key.wraps.filter((w) => w.to === identity.name)) {
      try {
        const epk = Buffer.from(wrap.epk, 'base64');
        const z = diffieHellman({ privateKey: privateKeyObject(identity.privateKey), publicKey: publicKeyObject(epk) });
        const w = Buffer.from(hkdfSync('sha256', z, Buffer.concat([epk, identity.publicKey]), Buffer.from('davcrypt/wrap/v1'), 32));
        const ct = Buffer.from(wrap.ct, 'base64');
        const d = createDecipheriv('aes-256-gcm', w, Buffer.from(wrap.nonce, 'base64'));
        d.setAAD(Buffer.from(key.id, 'hex'));
        d.setAuthTag(ct.subarray(32));
        out.push(Buffer.concat([d.update(ct.subarray(0, 32)), d.final()]));
      } catch {
        // not for us
      }
    }
  }
  return out;
}

/** Raw bytes on the backend, addressed by a path relative to the storage root ('alice/doc.txt'). */
export interface BackendFiles {
  get(path: string): Promise<Buffer>;
  /** Writes (creating parent folders). */
  put(path: string, data: Buffer | string): Promise<void>;
}

export function localBackendFiles(root: string): BackendFiles {
  return {
    get: (path) => readFile(join(root, path)),
    async put(path, data) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), data);
    },
  };
}

/** A WebDAV share (Apache mod_dav): MKCOL for missing folders, PUT for files. */
export function webdavBackendFiles(baseUrl: string, user?: string, password?: string): BackendFiles {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const headers: Record<string, string> = user ? { authorization: 'Basic ' + Buffer.from(`${user}:${password ?? ''}`).toString('base64') } : {};
  const url = (p: string) => new URL(p.split('/').map(encodeURIComponent).join('/'), base);
  return {
    async get(path) {
      const res = await request(url(path), { headers });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) throw new Error(`GET ${path} on the backend: HTTP ${res.statusCode}`);
      return body;
    },
    async put(path, data) {
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const res = await request(url(parts.slice(0, i).join('/') + '/'), { method: 'MKCOL', headers });
        await res.body.dump();
      }
      const res = await request(url(path), { method: 'PUT', headers, body: data });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`PUT ${path} on the backend: HTTP ${res.statusCode}`);
    },
  };
}

/** The damage a provider can do to one stored file without any key (used as a table by the tests). */
export const FILE_ATTACKS: { name: string; forge(original: Buffer): Buffer }[] = [
  { name: 'replaced by plaintext', forge: () => Buffer.from('the provider wrote this; it is not what was stored\n') },
  ...[0, 1, 3, 7].map((n) => ({ name: `cut to ${n} bytes`, forge: (o: Buffer) => o.subarray(0, n) })),
  { name: 'magic damaged', forge: (o: Buffer) => Buffer.concat([Buffer.from('DAVCRYPX'), o.subarray(8)]) },
  { name: 'magic replaced, size kept', forge: (o: Buffer) => Buffer.alloc(o.length, 0x41) },
];

function rawX25519Pair(): { publicKey: Buffer; privateKey: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'),
    privateKey: Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'),
  };
}

function privateKeyObject(raw: Buffer): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: raw.toString('base64url'), x: x25519PublicOf(raw).toString('base64url') }, format: 'jwk' });
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function x25519PublicOf(privateRaw: Buffer): Buffer {
  // PKCS#8 DER of an X25519 private key: a fixed 16-byte prefix, then the 32 raw bytes.
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateRaw]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
}
