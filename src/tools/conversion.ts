// Steps shared by the in-place conversions (encrypt-all/decrypt-all in migrate.ts and key
// re-encryption in src/keys/reencrypt.ts): "is this still the version we read?", the temp
// folder under `.davcrypt/` that holds converted copies, writing and verifying a copy, and
// replacing the original with it only if the original did not change meanwhile.
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { etagsMatchWeakly, joinPath, type Backend, type EntryInfo } from '../backends/index.js';
import { createDecryptStream } from '../crypto/index.js';
import { davError, isDavcryptError, toDavcryptError } from '../errors.js';
import type { MountKeySet } from '../crypto/index.js';
import { hashingStream, nullSink } from './streams.js';
import { rethrowAbort } from './tree-scan.js';
import { walkTree } from './walk.js';

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

/** Pipes `source` through `transforms` and returns the last stage; the first error of any stage is kept in `failure.error`. */
export function chainStreams(source: Readable, transforms: NodeJS.ReadWriteStream[], failure: { error?: unknown }): Readable {
  return pipelineCb(source, ...(transforms as [NodeJS.ReadWriteStream]), (err) => {
    if (err) failure.error ??= err;
  }) as unknown as Readable;
}

/**
 * Writes a converted copy (`out`, made by chainStreams) to `tempPath`. Returns what the backend
 * reports, or 'changed' when the write failed because the original changed meanwhile (e.g. the body
 * length differed from the size announced). A failure inside the conversion itself (a decrypt error)
 * is thrown as that error, not as the write error it caused.
 */
export async function writeConvertedCopy(
  backend: Backend, path: string, tempPath: string, before: EntryInfo, out: Readable, size: number | undefined,
  failure: { error?: unknown }, signal?: AbortSignal,
): Promise<EntryInfo | 'changed'> {
  let written: EntryInfo;
  try {
    written = await backend.write(tempPath, out, { size, signal });
  } catch (err) {
    if (failure.error !== undefined && !signal?.aborted) {
      const cause = toDavcryptError(failure.error);
      if (cause.code !== 'DC_ERR_ABORTED' && cause.code !== 'DC_ERR_INTERNAL') throw cause;
    }
    if (!signal?.aborted) {
      const now = await backend.stat(path, { signal }).catch(() => undefined);
      if (!now || !sameVersion(before, now)) return 'changed';
    }
    throw err;
  }
  if (failure.error !== undefined) throw toDavcryptError(failure.error);
  return written;
}

/**
 * Reads the encrypted copy at `tempPath` back, decrypts it and compares its length and SHA-256 with
 * the source's; DC_ERR_BACKEND ("original kept") when they differ. `what` names the copy in the message.
 */
export async function verifyEncryptedCopy(
  backend: Backend, keys: MountKeySet, tempPath: string, source: { sha256: string; bytes: number }, what: string, signal?: AbortSignal,
): Promise<void> {
  const { body, info } = await backend.read(tempPath, { signal });
  const check = hashingStream();
  await pipeline(body, createDecryptStream({ resolveKey: (id) => keys.get(id)?.key, cipherSize: info.size }), check, nullSink(), { signal });
  if (check.bytes !== source.bytes || check.digest() !== source.sha256) {
    throw davError('DC_ERR_BACKEND', `${tempPath}: the ${what} copy does not decrypt to the original; original kept`);
  }
}

/**
 * MOVEs the copy over the original when the original is still the version read (`before`); else deletes
 * the copy and says 'changed'. Race window: a write landing between this stat and the MOVE is overwritten
 * (docs/RECOVERY.md).
 */
export async function replaceIfUnchanged(
  backend: Backend, path: string, tempPath: string, before: EntryInfo, signal?: AbortSignal,
): Promise<'replaced' | 'changed'> {
  const now = await backend.stat(path, { signal }).catch((err: unknown) => {
    if (isDavcryptError(err, 'DC_ERR_NOT_FOUND')) return undefined;
    throw err;
  });
  if (!now || !sameVersion(before, now)) {
    await backend.delete(tempPath).catch(() => undefined);
    return 'changed';
  }
  await backend.move(tempPath, path, { overwrite: true, signal });
  return 'replaced';
}

/**
 * The files below `start` of one mount: folders holding their own `.davcrypt/` (nested mounts, other
 * keys) are not entered; their paths are pushed to `nestedMounts`. An error after the signal fired
 * becomes DC_ERR_ABORTED ("<what> aborted").
 */
export async function* filesOfMount(
  backend: Backend, start: string, nestedMounts: string[], what: string, signal?: AbortSignal,
): AsyncGenerator<EntryInfo> {
  const walk = walkTree(backend, start, {
    signal,
    descend: (item) => {
      if (!item.hasKeyringFolder) return true;
      nestedMounts.push(item.entry.path);
      return false;
    },
  });
  try {
    for await (const item of walk) if (item.kind === 'file') yield item.entry;
  } catch (err) {
    rethrowAbort(err, signal, what);
  }
}
