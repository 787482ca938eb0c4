// The hostile storage provider of issue 11, for the attack tests: it reads and writes raw
// bytes on the backend (a local folder, or a WebDAV share with the backend's credentials)
// and knows only docs/FORMAT.md and the public keys it finds in keyrings. Nothing here
// imports src/: every keyring, wrap, envelope and file is built from the spec with
// node:crypto (and the argon2 package for envelopes), as an outsider would.
//
//   const evil = new KeyringAttacker(localAccess(join(gw.storageRoot)));
//   const alicePub = (await evil.publicKeysIn('/team'))['user:alice'];
//   const planted = await evil.plantKeyring('/alice', { 'user:alice': alicePub! });
//   ...alice logs in and writes /secret.txt...
//   evil.decrypt(await evil.read('/alice/secret.txt'), planted)   // undefined when the attack failed
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import argon2 from 'argon2';
import { request } from 'undici';
import { refTagInput } from '../unit/crypto/keyring-reference.js';
import { refDecrypt, refEncrypt } from '../unit/crypto/reference.js';

/** Raw access to the storage, as the provider has it. Paths are '/'-separated, below the share root. */
export interface StorageAccess {
  /** The bytes of a file, or undefined when there is none. */
  read(path: string): Promise<Buffer | undefined>;
  /** Writes a whole file, creating missing folders. */
  write(path: string, data: Buffer): Promise<void>;
}

export function localAccess(root: string): StorageAccess {
  const abs = (p: string) => join(root, ...p.split('/').filter(Boolean));
  return {
    async read(path) {
      return readFile(abs(path)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
    },
    async write(path, data) {
      await mkdir(dirname(abs(path)), { recursive: true });
      await writeFile(abs(path), data);
    },
  };
}

/** A WebDAV share (e.g. Apache mod_dav) with the backend's own credentials. */
export function webdavAccess(baseUrl: string, username?: string, password?: string): StorageAccess {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const headers = (): Record<string, string> =>
    username === undefined ? {} : { authorization: 'Basic ' + Buffer.from(`${username}:${password ?? ''}`).toString('base64') };
  const url = (p: string) => new URL(p.split('/').filter(Boolean).map(encodeURIComponent).join('/'), base);
  return {
    async read(path) {
      const res = await request(url(path), { method: 'GET', headers: headers() });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw new Error(`attacker GET ${path}: HTTP ${res.statusCode}`);
      return body;
    },
    async write(path, data) {
      const parts = path.split('/').filter(Boolean);
      for (let i = 1; i < parts.length; i++) {
        const res = await request(new URL(parts.slice(0, i).map(encodeURIComponent).join('/') + '/', base), { method: 'MKCOL', headers: headers() });
        await res.body.dump();
      }
      const res = await request(url(path), { method: 'PUT', body: data, headers: { ...headers(), 'content-length': String(data.length) } });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`attacker PUT ${path}: HTTP ${res.statusCode}`);
    },
  };
}

/** A mount key the attacker made (and so can decrypt with). */
export interface PlantedKey {
  id: Buffer;
  key: Buffer;
}

// --- FORMAT.md §3.1: X25519 wrap of a mount key to a public key -----------------------------
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const b64 = (b: Buffer) => b.toString('base64');

function x25519Pair(): { privateKey: Buffer; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    privateKey: Buffer.from((privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).subarray(PKCS8.length)),
    publicKey: Buffer.from((publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI.length)),
  };
}

/** The wrap key W and ephemeral public key for one recipient (one ECDH; reusable by an attacker that does not care). */
function wrapKeyFor(recipient: Buffer): { W: Buffer; epk: Buffer } {
  const e = x25519Pair();
  const Z = diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([PKCS8, e.privateKey]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([SPKI, recipient]), format: 'der', type: 'spki' }),
  });
  return { W: Buffer.from(hkdfSync('sha256', Z, Buffer.concat([e.publicKey, recipient]), Buffer.from('davcrypt/wrap/v1'), 32)), epk: e.publicKey };
}

export function wrapTo(k: PlantedKey, recipient: Buffer, to: string, shared?: { W: Buffer; epk: Buffer }): { to: string; epk: string; nonce: string; ct: string } {
  const { W, epk } = shared ?? wrapKeyFor(recipient);
  const e = { publicKey: epk };
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', W, nonce);
  c.setAAD(k.id);
  const ct = Buffer.concat([c.update(k.key), c.final(), c.getAuthTag()]);
  return { to, epk: b64(e.publicKey), nonce: b64(nonce), ct: b64(ct) };
}

// --- FORMAT.md §3.2: password envelope (an identity of the attacker's own) ------------------
async function sealEnvelope(privateKey: Buffer, name: string, password: string, params: { m: number; t: number; p: number }) {
  const salt = randomBytes(16);
  const kek = await argon2.hash(password, { type: argon2.argon2id, salt, raw: true, hashLength: 32, memoryCost: params.m, timeCost: params.t, parallelism: params.p });
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(Buffer.from(`davcrypt/identity/v1:${name}`));
  const ct = Buffer.concat([c.update(privateKey), c.final(), c.getAuthTag()]);
  return { kdf: 'argon2id', ...params, salt: b64(salt), nonce: b64(nonce), ct: b64(ct) };
}

/** An envelope-shaped object with chosen argon2 parameters (never opened by anyone: the point is its cost). */
export function greedyEnvelope(m: number, t: number, p = 1) {
  return { kdf: 'argon2id', m, t, p, salt: b64(randomBytes(16)), nonce: b64(randomBytes(12)), ct: b64(randomBytes(48)) };
}

type Json = Record<string, any>;

export interface PlantOptions {
  /** Keyring format to write: 1 (what davcrypt wrote before format 2) or 2 (with made-up tags). Default 1. */
  format?: 1 | 2;
  /** Mount id claimed in format 2 (default 'home:victim'). */
  mount?: string;
  /** Sequence number claimed in format 2 (default 1_000_000: "newest"). */
  seq?: number;
  /** Extra identities to list: name -> public key (e.g. a "recovery" of the attacker's own). */
  extraIdentities?: Record<string, { publicKey: Buffer; envelope?: Json }>;
  /** Tag keys it got hold of (e.g. the recovery tag key from a stolen store): those wraps get real tags (FORMAT.md §3.4). */
  tagKeys?: Record<string, Buffer>;
}

/** The hostile storage provider. */
export class KeyringAttacker {
  constructor(readonly storage: StorageAccess) {}

  keyringPath(dir: string): string {
    return `${dir.replace(/\/+$/, '')}/.davcrypt/keyring.json`;
  }

  async readKeyring(dir: string): Promise<Json | undefined> {
    const bytes = await this.storage.read(this.keyringPath(dir));
    return bytes ? JSON.parse(bytes.toString('utf8')) : undefined;
  }

  async writeKeyring(dir: string, keyring: unknown, compact = false): Promise<void> {
    await this.storage.write(this.keyringPath(dir), Buffer.from((compact ? JSON.stringify(keyring) : JSON.stringify(keyring, null, 2)) + '\n'));
  }

  /** Public keys (raw) of every identity a keyring lists: what any reader of the storage sees. */
  async publicKeysIn(dir: string): Promise<Record<string, Buffer>> {
    const ring = await this.readKeyring(dir);
    if (!ring) throw new Error(`attacker: no keyring at ${dir}`);
    return Object.fromEntries(Object.entries(ring.identities as Record<string, { publicKey: string }>).map(([n, i]) => [n, Buffer.from(i.publicKey, 'base64')]));
  }

  /** A fresh mount key of the attacker's. */
  newKey(): PlantedKey {
    return { id: randomBytes(16), key: randomBytes(32) };
  }

  /** An identity entry for a victim: her public key and an envelope the attacker cannot make for her (random bytes). */
  private identityEntry(name: string, publicKey: Buffer): Json {
    return name === 'master' ? { publicKey: b64(publicKey) } : { publicKey: b64(publicKey), envelope: greedyEnvelope(64, 1) };
  }

  private keyEntry(k: PlantedKey, victims: Record<string, Buffer>, o: PlantOptions, shared?: Map<string, { W: Buffer; epk: Buffer }>): Json {
    const v2 = (o.format ?? 1) === 2;
    const entry: Json = { id: k.id.toString('hex') };
    if (v2) Object.assign(entry, { mount: o.mount ?? 'home:victim', seq: o.seq ?? 1_000_000 });
    const wraps = Object.entries(victims).map(([name, pub]) => {
      const w: Json = wrapTo(k, pub, name, shared?.get(name));
      const tagKey = o.tagKeys?.[name];
      if (v2) w.tag = tagKey ? this.tag(tagKey, entry.mount, entry.id, entry.seq, w as never, k.key) : b64(randomBytes(32)); // without the tag key it can only guess
      return w;
    });
    return { ...entry, created: new Date().toISOString(), wraps };
  }

  /** A keyring tag (FORMAT.md §3.4) with a tag key it holds. */
  tag(tagKey: Buffer, mount: string, keyIdHex: string, seq: number, w: { to: string; epk: string; nonce: string; ct: string }, key: Buffer): string {
    return createHmac('sha256', tagKey).update(refTagInput(mount, w.to, keyIdHex, key, w, seq)).digest('base64');
  }

  /**
   * Writes a whole keyring at `dir` whose only (current) key is the attacker's, wrapped to the
   * victims' public keys. Returns the key.
   */
  async plantKeyring(dir: string, victims: Record<string, Buffer>, o: PlantOptions = {}): Promise<PlantedKey> {
    const k = this.newKey();
    const identities: Json = {};
    for (const [name, pub] of Object.entries(victims)) identities[name] = this.identityEntry(name, pub);
    for (const [name, extra] of Object.entries(o.extraIdentities ?? {})) identities[name] = { publicKey: b64(extra.publicKey), ...(extra.envelope ? { envelope: extra.envelope } : {}) };
    const entry = this.keyEntry(k, victims, o);
    const ring = (o.format ?? 1) === 2
      ? { format: 'davcrypt-keyring/2', keys: [entry], identities }
      : { format: 'davcrypt-keyring/1', current: entry.id, keys: [entry], identities };
    await this.writeKeyring(dir, ring);
    return k;
  }

  /**
   * Adds a key of the attacker's to the keyring at `dir` (in its own format), wrapped to the
   * victims' public keys, as the newest key (format 1: `current`; format 2: the highest seq, a
   * made-up tag). Returns the key.
   */
  async addPlantedKey(dir: string, victims: Record<string, Buffer>, o: { tagKeys?: Record<string, Buffer> } = {}): Promise<PlantedKey> {
    const ring = await this.readKeyring(dir);
    if (!ring) throw new Error(`attacker: no keyring at ${dir}`);
    const k = this.newKey();
    const v2 = ring.format === 'davcrypt-keyring/2';
    const mount = v2 ? ring.keys[0].mount : undefined;
    const seq = v2 ? Math.max(...ring.keys.map((e: Json) => e.seq)) + 1000 : undefined;
    ring.keys.push(this.keyEntry(k, victims, { format: v2 ? 2 : 1, mount, seq, tagKeys: o.tagKeys }));
    if (!v2) ring.current = k.id.toString('hex');
    await this.writeKeyring(dir, ring);
    return k;
  }

  /** A keyring with `count` keys, each wrapped to the victims (the cost lands on whoever loads it). */
  async plantHugeKeyring(dir: string, victims: Record<string, Buffer>, count: number, o: PlantOptions = {}): Promise<void> {
    const identities: Json = {};
    for (const [name, pub] of Object.entries(victims)) identities[name] = this.identityEntry(name, pub);
    const keys: Json[] = [];
    // One ephemeral key per victim for all wraps (valid wraps, cheap to make; each still costs the opener an ECDH).
    const shared = new Map(Object.entries(victims).map(([name, pub]) => [name, wrapKeyFor(pub)]));
    for (let i = 0; i < count; i++) keys.push(this.keyEntry(this.newKey(), victims, o, shared));
    const ring = (o.format ?? 1) === 2
      ? { format: 'davcrypt-keyring/2', keys, identities }
      : { format: 'davcrypt-keyring/1', current: keys.at(-1)!.id, keys, identities };
    await this.writeKeyring(dir, ring, true); // compact: stays under the 16 MiB file limit davcrypt always had
  }

  /**
   * A keyring holding identity `name` sealed under the attacker's password, with argon2 parameters
   * of its choosing (e.g. m = 1 GiB, t = 64), and one key wrapped to that identity.
   */
  async plantIdentity(dir: string, name: string, password: string, params: { m: number; t: number; p: number }, o: { realEnvelope?: boolean } = {}): Promise<{ privateKey: Buffer; publicKey: Buffer; key: PlantedKey }> {
    const pair = x25519Pair();
    const envelope = o.realEnvelope ? await sealEnvelope(pair.privateKey, name, password, params) : greedyEnvelope(params.m, params.t, params.p);
    const key = await this.plantKeyring(dir, { [name]: pair.publicKey });
    const ring = (await this.readKeyring(dir))!;
    ring.identities[name] = { publicKey: b64(pair.publicKey), envelope };
    await this.writeKeyring(dir, ring);
    return { ...pair, key };
  }

  /** A fresh X25519 identity of the attacker's (e.g. to pose as "recovery"). */
  newIdentity(): { privateKey: Buffer; publicKey: Buffer } {
    return x25519Pair();
  }

  /** Opens a wrap (FORMAT.md §3.1) with a private key the attacker holds. */
  unwrap(w: { epk: string; nonce: string; ct: string }, keyIdHex: string, privateKey: Buffer): Buffer | undefined {
    try {
      const E = Buffer.from(w.epk, 'base64');
      const priv = createPrivateKey({ key: Buffer.concat([PKCS8, privateKey]), format: 'der', type: 'pkcs8' });
      const R = Buffer.from((createPublicKey(priv).export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI.length));
      const Z = diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: Buffer.concat([SPKI, E]), format: 'der', type: 'spki' }) });
      const W = Buffer.from(hkdfSync('sha256', Z, Buffer.concat([E, R]), Buffer.from('davcrypt/wrap/v1'), 32));
      const ct = Buffer.from(w.ct, 'base64');
      const d = createDecipheriv('aes-256-gcm', W, Buffer.from(w.nonce, 'base64'));
      d.setAAD(Buffer.from(keyIdHex, 'hex'));
      d.setAuthTag(ct.subarray(32));
      return Buffer.concat([d.update(ct.subarray(0, 32)), d.final()]);
    } catch {
      return undefined;
    }
  }

  /** Encrypts a davcrypt v1 file (FORMAT.md §2) with one of its keys: a forged file the gateway's key would not make. */
  forgeFile(k: PlantedKey, plain: Buffer): Buffer {
    return refEncrypt(k.key, k.id, 16, randomBytes(32), randomBytes(7), plain);
  }

  /** Decrypts a stored file with one of its keys; undefined when the file is not under that key (the attack failed). */
  decrypt(file: Buffer | undefined, k: PlantedKey): Buffer | undefined {
    if (!file || file.length < 65 || !file.subarray(10, 26).equals(k.id)) return undefined;
    const r = refDecrypt(k.key, file);
    return r.ok ? r.plain : undefined;
  }

  /** The key id (hex) a stored davcrypt file names in its header. */
  static keyIdOf(file: Buffer): string {
    return file.subarray(10, 26).toString('hex');
  }

  /** SHA-256 hex (for comparing contents in tests). */
  static sha(b: Buffer): string {
    return createHash('sha256').update(b).digest('hex');
  }
}
