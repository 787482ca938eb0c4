// `key rotate --reencrypt`: rewrites a mount's encrypted files that use an old key
// so they use the current key, safely while the gateway serves. Per file: decrypt
// with the old key and encrypt with the current one into <mount>/.davcrypt/reencrypt/
// <random>, read the copy back and compare SHA-256 of the plaintext, then MOVE it over
// the original only if the original's ETag did not change. Resumable: files already
// under the current key are skipped; stale temp copies are removed at start. Also
// scans which key ids files use (before dropping old keys). Never touches keyrings.
import { randomBytes } from 'node:crypto';
import { KEYRING_DIR, joinPath, toolWorkFolder, type Backend, type EntryInfo } from '../backends/index.js';
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
import { davError, toDavcryptError, type ErrorCode } from '../errors.js';
import { hashingStream, peekHead } from './streams.js';
import { walkTree } from './walk.js';
import { chainStreams, filesOfMount, prepareTempFolder, replaceIfUnchanged, verifyEncryptedCopy, writeConvertedCopy } from './conversion.js';
import type { MountKeySet } from '../keys/index.js';

export const REENCRYPT_TEMP_FOLDER = toolWorkFolder('/', 'reencrypt');

export interface ReencryptProgress {
  fileStarted?(path: string, storedBytes: number): void;
  bytes?(n: number): void;
  fileDone?(path: string): void;
}

export interface ReencryptOptions {
  /** The mount's raw backend (no EncryptingBackend in front), rooted at the mount. */
  backend: Backend;
  /** Every old key the files may use, plus the current key new copies are written with. */
  keys: MountKeySet;
  signal?: AbortSignal;
  progress?: ReencryptProgress;
  /** After a copy verified, before the ETag check and MOVE (tests use it to abort mid-way). */
  beforeReplace?(path: string): void | Promise<void>;
}

export interface ReencryptReport {
  files: number;
  reencrypted: number;
  /** Already under the current key. */
  current: number;
  /** Plaintext files (no magic): left as they are (encrypt-all converts them). */
  plaintext: number;
  /** Changed by someone else meanwhile: left alone, run again. */
  changed: string[];
  failed: { path: string; code: ErrorCode; message: string }[];
  /** Subfolders with their own keyring: not touched. */
  nestedMounts: string[];
  staleTempsRemoved: number;
}

/** True when nothing failed or changed meanwhile. */
export function reencryptComplete(r: ReencryptReport): boolean {
  return r.failed.length === 0 && r.changed.length === 0;
}

/**
 * Re-encrypts every file below the mount root that uses another key than `keys.current`.
 * Throws DC_ERR_ABORTED (signal or hook; the file in flight stays as it was), backend errors on the
 * temp folder. Per-file problems land in the report.
 */
export async function reencryptTree(opts: ReencryptOptions): Promise<ReencryptReport> {
  const { backend, signal } = opts;
  const report: ReencryptReport = { files: 0, reencrypted: 0, current: 0, plaintext: 0, changed: [], failed: [], nestedMounts: [], staleTempsRemoved: 0 };
  report.staleTempsRemoved = await prepareTempFolder(backend, REENCRYPT_TEMP_FOLDER, KEYRING_DIR, signal);
  for await (const entry of filesOfMount(backend, '/', report.nestedMounts, 're-encryption', signal)) await reencryptOne(opts, entry, report);
  return report;
}

class HookFailure extends Error {}

async function reencryptOne(opts: ReencryptOptions, entry: EntryInfo, report: ReencryptReport): Promise<void> {
  const { backend, signal } = opts;
  const path = entry.path;
  report.files += 1;
  opts.progress?.fileStarted?.(path, entry.size);
  const tempPath = joinPath(REENCRYPT_TEMP_FOLDER, randomBytes(12).toString('hex'));
  try {
    const outcome = await convert(opts, path, tempPath);
    if (outcome === 'plaintext') report.plaintext += 1;
    else if (outcome === 'current') report.current += 1;
    else if (outcome === 'changed') report.changed.push(path);
    else report.reencrypted += 1;
  } catch (err) {
    await backend.delete(tempPath).catch(() => undefined);
    if (signal?.aborted) throw davError('DC_ERR_ABORTED', `re-encryption aborted at ${path}`, { cause: signal.reason });
    if (err instanceof HookFailure) throw davError('DC_ERR_ABORTED', `re-encryption stopped at ${path}`, { cause: err.cause });
    const e = toDavcryptError(err);
    report.failed.push({ path, code: e.code, message: e.message });
  }
  opts.progress?.fileDone?.(path);
}

async function convert(opts: ReencryptOptions, path: string, tempPath: string): Promise<'plaintext' | 'current' | 'changed' | 'done'> {
  const { backend, signal, keys } = opts;
  const before = await backend.stat(path, { signal });
  const { body } = await backend.read(path, { signal });
  const { head, stream } = await peekHead(body, HEADER_BYTES);
  // The replay stream was never read when we stop early: it does not release the body itself.
  const release = (): void => {
    stream.destroy();
    body.destroy();
  };
  if (!hasMagic(head)) {
    release();
    return 'plaintext';
  }
  const header = parseHeader(head);
  if (header.keyId.equals(keys.current.id)) {
    release();
    return 'current';
  }
  if (!keys.get(header.keyId)) {
    release();
    throw davError('DC_ERR_UNKNOWN_KEY', `${path} uses key ${header.keyId.toString('hex')}, which the unlocked keys do not include`);
  }
  const plainSize = plainSizeForCipher(before.size, header.segmentExponent);
  if (plainSize === undefined) {
    release();
    throw davError('DC_ERR_TRUNCATED', `${path}: stored size ${before.size} is not a valid encrypted size`);
  }
  const e = DEFAULT_SEGMENT_EXPONENT;
  const plainHash = hashingStream((n) => opts.progress?.bytes?.(n));
  const failure: { error?: unknown } = {};
  const decrypt = createDecryptStream({ resolveKey: (id) => keys.get(id)?.key, cipherSize: before.size });
  const out = chainStreams(stream, [decrypt, plainHash, createEncryptStream({ key: keys.current, segmentExponent: e })], failure);
  const written = await writeConvertedCopy(backend, path, tempPath, before, out, cipherSizeForPlain(plainSize, e), failure, signal);
  if (written === 'changed') return 'changed';
  // Read the copy back under the current key: it must give the very same plaintext.
  await verifyEncryptedCopy(backend, keys, tempPath, { sha256: plainHash.digest(), bytes: plainHash.bytes }, 're-encrypted', signal);
  if (before.lastModified && backend.capabilities.setModified && backend.setModified) {
    await backend.setModified(tempPath, before.lastModified, { signal });
  }
  if (opts.beforeReplace) {
    try {
      await opts.beforeReplace(path);
    } catch (err) {
      throw new HookFailure('hook failed', { cause: err });
    }
  }
  return (await replaceIfUnchanged(backend, path, tempPath, before, signal)) === 'changed' ? 'changed' : 'done';
}

/** How many files use each key id (from their 65-byte headers), and how many are plaintext. */
export interface KeyUsage {
  byKey: Map<string, number>;
  plaintext: number;
  unreadable: string[];
}

/** Reads only each file's header (a ranged read). Skips nested mounts. Throws backend errors, DC_ERR_ABORTED. */
export async function scanKeyUsage(backend: Backend, signal?: AbortSignal): Promise<KeyUsage> {
  const usage: KeyUsage = { byKey: new Map(), plaintext: 0, unreadable: [] };
  for await (const item of walkTree(backend, '/', { signal, descend: (i) => !i.hasKeyringFolder })) {
    if (item.kind !== 'file') continue;
    try {
      const { body } = await backend.read(item.entry.path, { range: { start: 0, end: HEADER_BYTES - 1 }, signal });
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const head = Buffer.concat(chunks).subarray(0, HEADER_BYTES);
      if (!hasMagic(head)) {
        usage.plaintext += 1;
        continue;
      }
      const id = parseHeader(head).keyId.toString('hex');
      usage.byKey.set(id, (usage.byKey.get(id) ?? 0) + 1);
    } catch (err) {
      if (signal?.aborted) throw davError('DC_ERR_ABORTED', 'scan aborted', { cause: signal.reason });
      usage.unreadable.push(item.entry.path);
      void err;
    }
  }
  return usage;
}
