// Steps shared by the in-place conversions (encrypt-all/decrypt-all in migrate.ts and key
// re-encryption in src/keys/reencrypt.ts): "is this still the version we read?" and the
// temp folder under `.davcrypt/` that holds converted copies until they replace the originals.
import { etagsMatchWeakly, joinPath, type Backend, type EntryInfo } from '../backends/index.js';
import { isDavcryptError } from '../errors.js';

/** True when two stats describe the same stored version (ETag when either has one, plus size and mtime). */
export function sameVersion(a: EntryInfo, b: EntryInfo): boolean {
  if ((a.etag !== undefined || b.etag !== undefined) && !etagsMatchWeakly(a.etag, b.etag)) return false;
  return a.size === b.size && a.lastModified?.getTime() === b.lastModified?.getTime();
}

/** Creates `parentFolder` and `tempFolder` if missing and removes stale temp copies; returns how many. */
export async function prepareTempFolder(backend: Backend, tempFolder: string, parentFolder: string, signal?: AbortSignal): Promise<number> {
  for (const dir of [parentFolder, tempFolder]) {
    try {
      await backend.mkdir(dir, { signal });
    } catch (err) {
      if (!isDavcryptError(err, 'DC_ERR_EXISTS')) throw err;
    }
  }
  const stale = await backend.list(tempFolder, { signal });
  for (const e of stale) await backend.delete(joinPath(tempFolder, e.name), { signal });
  return stale.length;
}
