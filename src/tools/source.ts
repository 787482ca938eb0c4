// Opens the storage a tool reads: a local folder (LocalBackend, never created) or a
// WebDAV URL (the webdav backend). Needs no gateway config, data dir or store.
// Must not write anything to the storage it opens.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KEYRING_FILE, LocalBackend, METADATA_FOLDER, createWebdavBackend, type Backend } from '../backends/index.js';
import { davError } from '../errors.js';
import { readKeyringAt } from './identity-keys.js';

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

/** How many folders above --from are looked at for the mount root (one PROPFIND + GET each over WebDAV). */
const MAX_PARENTS = 8;

/**
 * For a `from` that is not a mount root: the nearest folder (or URL) above it holding
 * `.davcrypt/keyring.json`, the mount root the user meant, or undefined. Reads only.
 */
export async function mountRootAbove(from: string, creds: SourceCredentials = {}): Promise<string | undefined> {
  if (isUrlSource(from)) return urlRootAbove(from, creds);
  let dir = resolve(from);
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
    if (existsSync(join(dir, METADATA_FOLDER, KEYRING_FILE))) return dir;
  }
}

async function urlRootAbove(from: string, creds: SourceCredentials): Promise<string | undefined> {
  let url = new URL(from.endsWith('/') ? from : from + '/');
  for (let i = 0; i < MAX_PARENTS && url.pathname !== '/'; i++) {
    url = new URL('../', url);
    let backend: Backend | undefined;
    try {
      backend = await createWebdavBackend({ url: url.href, username: creds.username, password: creds.password });
      if (await readKeyringAt(backend, '/')) return url.href;
    } catch {
      // Not reachable with these credentials, or not a keyring: keep climbing.
    } finally {
      await backend?.close().catch(() => undefined);
    }
  }
  return undefined;
}
