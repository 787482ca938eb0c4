// encrypt-all / decrypt-all: converts a mount's files in place while the gateway may
// be serving. Per file: write the converted copy to <mount>/.davcrypt/migrate/<random>
// (hidden from clients), verify it, and MOVE it over the original only if the
// original's ETag did not change meanwhile. Resumable: converted files are
// recognised by the magic, stale temp copies are removed at start. Never deletes an
// original except by that final MOVE.
import { randomBytes } from 'node:crypto';
import { METADATA_FOLDER as KEYRING_FOLDER, TOOL_WORK_FOLDERS, joinPath, type Backend, type EntryInfo } from '../backends/index.js';
import {
  DEFAULT_SEGMENT_EXPONENT,
  HEADER_BYTES,
  cipherSizeForPlain,
  createDecryptStream,
  createEncryptStream,
  hasMagic,
  parseHeader,
  plainSizeForCipher,
} from '../crypto/index.js';
import { davError, toDavcryptError } from '../errors.js';
import type { MountKeySet } from '../keys/index.js';
import { countingStream, hashingStream, peekHead } from './streams.js';
import type { FileFailure, ToolProgress } from './tree-scan.js';
import { chainStreams, filesOfMount, prepareTempFolder, replaceIfUnchanged, verifyEncryptedCopy, writeConvertedCopy } from './conversion.js';

/** Folder (below the mount root) holding in-progress converted copies. */
export const MIGRATE_TEMP_FOLDER = TOOL_WORK_FOLDERS.migrate;

export type MigrateDirection = 'encrypt' | 'decrypt';

/** Test and tooling hooks; each may be async. Throwing aborts the run like a signal would. */
export interface MigrateHooks {
  /** After the converted copy verified, before the original's ETag is checked and the MOVE. */
  beforeReplace?(path: string): void | Promise<void>;
  /** After a file was replaced. */
  afterReplace?(path: string): void | Promise<void>;
}

export interface MigrateOptions {
  /** The mount's raw backend (no EncryptingBackend in front). */
  backend: Backend;
  direction: MigrateDirection;
  /** encrypt: `current` encrypts; decrypt: `get(id)` finds each file's key. */
  keys: MountKeySet;
  /** Mount root on the backend (default '/'). */
  start?: string;
  segmentExponent?: number;
  signal?: AbortSignal;
  progress?: ToolProgress;
  hooks?: MigrateHooks;
}

export interface MigrateReport {
  files: number;
  converted: number;
  /** Already in the wanted form (encrypted for encrypt-all, plaintext for decrypt-all). */
  skipped: number;
  /** Modified by someone else during conversion: left as they were (run again to convert them). */
  changed: string[];
  failed: FileFailure[];
  /** Subfolders with their own keyring (another mount): not touched. */
  nestedMounts: string[];
  /** Leftover temp copies of an interrupted run that were removed. */
  staleTempsRemoved: number;
}

/** True when the run left nothing unconverted. */
export function migrateSucceeded(r: MigrateReport): boolean {
  return r.failed.length === 0 && r.changed.length === 0;
}

async function deleteQuietly(backend: Backend, path: string): Promise<void> {
  await backend.delete(path).catch(() => undefined);
}

/**
 * Converts every file below `start`. Throws when it cannot begin (backend errors on the temp
 * folder) and DC_ERR_ABORTED when the signal fires or a hook throws (the file in flight is left
 * unconverted, never damaged). Per-file problems land in the report.
 */
export async function migrateTree(opts: MigrateOptions): Promise<MigrateReport> {
  const { backend, signal } = opts;
  const start = opts.start ?? '/';
  const keyringFolder = joinPath(start, KEYRING_FOLDER);
  const tempFolder = joinPath(keyringFolder, MIGRATE_TEMP_FOLDER);
  const report: MigrateReport = { files: 0, converted: 0, skipped: 0, changed: [], failed: [], nestedMounts: [], staleTempsRemoved: 0 };
  report.staleTempsRemoved = await prepareTempFolder(backend, tempFolder, keyringFolder, signal);
  for await (const entry of filesOfMount(backend, start, report.nestedMounts, 'migration', signal)) await migrateOne(opts, entry, tempFolder, report);
  return report;
}

async function migrateOne(opts: MigrateOptions, entry: EntryInfo, tempFolder: string, report: MigrateReport): Promise<void> {
  const { backend, signal } = opts;
  const path = entry.path;
  report.files += 1;
  opts.progress?.fileStarted?.(path, entry.size);
  const tempPath = joinPath(tempFolder, randomBytes(12).toString('hex'));
  try {
    const outcome = await convertFile(opts, path, tempPath);
    if (outcome === 'converted') report.converted += 1;
    else if (outcome === 'skipped') report.skipped += 1;
    else report.changed.push(path);
  } catch (err) {
    await deleteQuietly(backend, tempPath);
    if (signal?.aborted) throw davError('DC_ERR_ABORTED', `migration aborted at ${path}`, { cause: signal.reason });
    if (err instanceof HookError) throw davError('DC_ERR_ABORTED', `migration stopped by a hook at ${path}`, { cause: err.cause });
    const e = toDavcryptError(err);
    report.failed.push({ path, code: e.code, message: e.message });
  }
  opts.progress?.fileDone?.(path);
}

class HookError extends Error {}

async function runHook(hook: ((path: string) => void | Promise<void>) | undefined, path: string): Promise<void> {
  if (!hook) return;
  try {
    await hook(path);
  } catch (err) {
    throw new HookError('hook failed', { cause: err });
  }
}

async function convertFile(opts: MigrateOptions, path: string, tempPath: string): Promise<'converted' | 'skipped' | 'changed'> {
  const { backend, signal, keys } = opts;
  const before = await backend.stat(path, { signal });
  const { body } = await backend.read(path, { signal });
  const { head, stream } = await peekHead(body, HEADER_BYTES);
  const encrypted = hasMagic(head);
  if (encrypted === (opts.direction === 'encrypt')) {
    stream.destroy();
    body.destroy(); // the replay stream was never read: release the source file handle now
    return 'skipped';
  }
  const onBytes = (n: number) => opts.progress?.bytes?.(n);
  const sourceHash = hashingStream(onBytes);
  const failure: { error?: unknown } = {};
  let written: EntryInfo | 'changed';
  let plainSize: number | undefined;
  if (opts.direction === 'encrypt') {
    const e = opts.segmentExponent ?? DEFAULT_SEGMENT_EXPONENT;
    const out = chainStreams(stream, [sourceHash, createEncryptStream({ key: keys.current, segmentExponent: e })], failure);
    written = await writeConvertedCopy(backend, path, tempPath, before, out, cipherSizeForPlain(before.size, e), failure, signal);
  } else {
    plainSize = plainSizeForCipher(before.size, parseHeader(head).segmentExponent);
    const decrypt = createDecryptStream({ resolveKey: (id) => keys.get(id)?.key, cipherSize: before.size });
    const out = chainStreams(stream, [countingStream(onBytes), decrypt], failure);
    written = await writeConvertedCopy(backend, path, tempPath, before, out, plainSize, failure, signal);
  }
  if (written === 'changed') return 'changed';
  if (opts.direction === 'encrypt') {
    await verifyEncryptedCopy(backend, keys, tempPath, { sha256: sourceHash.digest(), bytes: sourceHash.bytes }, 'encrypted', signal);
  } else if (written.size !== undefined && written.size !== plainSize) {
    throw davError('DC_ERR_BACKEND', `${path}: the decrypted copy has ${written.size} bytes, expected another size; original kept`);
  }
  if (before.lastModified && backend.capabilities.setModified && backend.setModified) {
    await backend.setModified(tempPath, before.lastModified, { signal });
  }
  await runHook(opts.hooks?.beforeReplace, path);
  if ((await replaceIfUnchanged(backend, path, tempPath, before, signal)) === 'changed') return 'changed';
  await runHook(opts.hooks?.afterReplace, path);
  return 'converted';
}

