// Opens the storage a tool reads: a local folder (LocalBackend, never created) or a
// WebDAV URL (the webdav backend). Needs no gateway config, data dir or store.
// Must not write anything to the storage it opens.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LocalBackend, createWebdavBackend, type Backend } from '../backends/index.js';
import { davError } from '../errors.js';

/** Credentials for a WebDAV source (never logged). */
export interface SourceCredentials {
  username?: string;
  password?: string;
}

/** True when `from` looks like an http(s) URL rather than a folder. */
export function isUrlSource(from: string): boolean {
  return /^https?:\/\//i.test(from);
}

/**
 * Opens `from` (a folder path or an http(s) URL of a WebDAV share) as a Backend.
 * Throws DC_ERR_NOT_FOUND (folder missing), DC_ERR_NOT_A_COLLECTION (not a folder),
 * backend errors for a URL (DC_ERR_BACKEND_UNAUTHORIZED, DC_ERR_BACKEND_UNAVAILABLE, ...).
 */
export async function openSource(from: string, creds: SourceCredentials = {}): Promise<Backend> {
  if (isUrlSource(from)) {
    const url = from.endsWith('/') ? from : from + '/';
    return createWebdavBackend({ url, username: creds.username, password: creds.password });
  }
  const dir = resolve(from);
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    throw davError('DC_ERR_NOT_FOUND', `storage folder ${dir} does not exist`, { cause: err, details: { path: dir } });
  }
  if (!st.isDirectory()) throw davError('DC_ERR_NOT_A_COLLECTION', `${dir} is not a folder`, { details: { path: dir } });
  return new LocalBackend(dir, { createRoot: false });
}

/**
 * For a local `from` that is not a mount root: the nearest folder above it holding
 * `.davcrypt/keyring.json` (the mount root the user meant), or undefined. URLs: undefined.
 */
export function mountRootAbove(from: string): string | undefined {
  if (isUrlSource(from)) return undefined;
  let dir = resolve(from);
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
    if (existsSync(join(dir, '.davcrypt', 'keyring.json'))) return dir;
  }
}
