// The master key file (keys.mode: master): the X25519 private key of the `master`
// identity, kept on the gateway host (never in a keyring, never on the backend).
// File format: "davcrypt-master-key/1\n<base64 of the 32 raw bytes>\n", mode 0600.
// Creates (never overwrites) and reads the file; nothing else.
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateIdentityKeyPair, publicKeyFromPrivate, X25519_KEY_BYTES } from '../crypto/index.js';
import { davError } from '../errors.js';
import type { IdentityInfo } from './types.js';

export const MASTER_IDENTITY = 'master';
const MASTER_FILE_FORMAT = 'davcrypt-master-key/1';

/** An opened master key. Wipe `privateKey` (fill(0)) when done. */
export interface MasterKey {
  privateKey: Buffer;
  publicKey: Buffer;
  /** The public identity to wrap mount keys to. */
  identity: IdentityInfo;
}

/**
 * Creates a new master key file (mode 0600, parent folders 0700). Refuses an existing file.
 * Returns the public key. Throws DC_ERR_EXISTS, DC_ERR_CONFIG (cannot write).
 */
export async function createMasterKeyFile(path: string): Promise<Buffer> {
  const pair = generateIdentityKeyPair();
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let handle;
    try {
      handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw davError('DC_ERR_EXISTS', `master key file ${path} already exists; refusing to overwrite it (every mount key wrapped to it would be lost)`);
      }
      throw err;
    }
    try {
      await handle.writeFile(`${MASTER_FILE_FORMAT}\n${pair.privateKey.toString('base64')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(path, 0o600);
    return pair.publicKey;
  } catch (err) {
    if ((err as { code?: string }).code === 'DC_ERR_EXISTS') throw err;
    throw davError('DC_ERR_CONFIG', `cannot write master key file ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    pair.privateKey.fill(0);
  }
}

/**
 * Reads a master key file. For H6's offline `recover --master-key FILE` and the gateway:
 * `unwrapAllFor(keyring, MASTER_IDENTITY, (await readMasterKeyFile(f)).privateKey)`.
 * Refuses a file readable by group or others (like ssh) unless `allowOpenMode`.
 * Throws DC_ERR_CONFIG (missing, unreadable, malformed, too open).
 */
export async function readMasterKeyFile(path: string, options: { allowOpenMode?: boolean } = {}): Promise<MasterKey> {
  let text: string;
  try {
    const st = await stat(path);
    if (!options.allowOpenMode && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw davError('DC_ERR_CONFIG', `master key file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'DC_ERR_CONFIG') throw err;
    throw davError('DC_ERR_CONFIG', `cannot read master key file ${path}: ${(err as Error).message}; create one with: davcrypt master init --config FILE`, { cause: err });
  }
  const [format, b64] = text.split('\n');
  const privateKey = Buffer.from(b64?.trim() ?? '', 'base64');
  if (format !== MASTER_FILE_FORMAT || privateKey.length !== X25519_KEY_BYTES) {
    privateKey.fill(0);
    throw davError('DC_ERR_CONFIG', `master key file ${path} is not a ${MASTER_FILE_FORMAT} file`);
  }
  const publicKey = publicKeyFromPrivate(privateKey);
  return { privateKey, publicKey, identity: { name: MASTER_IDENTITY, publicKey } };
}
