// Offline recover: decrypts a copy of the storage (any Backend: a local folder or a
// WebDAV share) into a local folder with one identity's password (or the master
// key file), file by file.
// Each output is written to a temp name and renamed only when complete; failures
// are collected, never fatal. Must not write to the source, nor need the gateway.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DAMAGE_REPORT_SUFFIX, RECOVER_TEMP_PREFIX, type Backend } from '../backends/index.js';
import { createDecryptStream, hasMagic } from '../crypto/index.js';
import { isDavcryptError, toDavcryptError } from '../errors.js';
import { IdentityUnlocker, type KeyUnlocker } from './identity-keys.js';
import { KeyScopes, type ScopeOutcome, type UnauthenticatedUse } from './key-scopes.js';
import { formatDamage, salvageEncrypted, type DamageRange } from './salvage.js';
import { countingStream, peekHead } from './streams.js';
import { fileFailure, rethrowAbort, scanTree, type FileFailure, type ToolProgress } from './tree-scan.js';

/** Suffix of the damage report written beside a salvaged file. */
export { DAMAGE_REPORT_SUFFIX };
const OUT_TEMP_PREFIX = RECOVER_TEMP_PREFIX;
const SALVAGEABLE = new Set(['DC_ERR_TAMPERED', 'DC_ERR_TRUNCATED', 'DC_ERR_TRAILING_DATA']);

/**
 * Which identity opens the keyrings: "user:NAME" or "recovery" with its password, or a ready
 * unlocker (e.g. `openMasterKeyFile(path)` for the master identity), which recoverTree wipes.
 */
export type RecoverKeys =
  | { identity: string; password: string; unlocker?: undefined }
  | { unlocker: KeyUnlocker; identity?: undefined; password?: undefined };

export type RecoverOptions = RecoverKeys & {
  source: Backend;
  /** Local folder to write plaintext into (created if missing; existing files are overwritten). */
  outDir: string;
  /** Salvage damaged files: write verified segments at their offsets, zeros elsewhere, and list the holes. */
  skipBadSegments?: boolean;
  /** Folder of the source to start at (default '/': the mount root holding .davcrypt/keyring.json). */
  start?: string;
  /** Also decrypt files whose key opened without a valid keyring tag of the identity (listed either way). */
  trustUnauthenticated?: boolean;
  signal?: AbortSignal;
  progress?: ToolProgress;
};

/** A file written with holes by --skip-bad-segments. */
export interface SalvagedFile {
  path: string;
  damage: DamageRange[];
  /** Local path of the `<file>.davcrypt-damage.txt` report. */
  reportFile: string;
}

export interface RecoverReport {
  /** Files seen (encrypted + plaintext). */
  files: number;
  decrypted: number;
  /** Plaintext files (no magic) copied as they are. */
  copied: number;
  salvaged: SalvagedFile[];
  failed: FileFailure[];
  /** Files under a key the identity's keyring tag does not vouch for: skipped, or decrypted with trustUnauthenticated. */
  unauthenticated: UnauthenticatedUse[];
  /** Keyrings found (start folder and nested mounts) and whether they opened. */
  keyrings: ScopeOutcome[];
  /** Bytes read from the source. */
  sourceBytes: number;
}

/** True when the report has nothing failed, damaged or skipped for an unauthenticated key. */
export function recoverSucceeded(r: RecoverReport): boolean {
  return r.failed.length === 0 && r.salvaged.length === 0 && r.unauthenticated.every((u) => u.used);
}

/** Local path for a normalized backend path below `outDir`. */
function localPathOf(outDir: string, backendPath: string): string {
  return join(outDir, ...backendPath.split('/').filter((s) => s !== ''));
}

/**
 * Recovers every file below `start`. Throws only when it cannot begin: DC_ERR_WRONG_PASSWORD,
 * DC_ERR_NO_ACCESS, DC_ERR_KEYRING_INVALID (start keyring), backend errors listing the start,
 * DC_ERR_ABORTED. Per-file problems land in the report.
 */
export async function recoverTree(opts: RecoverOptions): Promise<RecoverReport> {
  const outDir = resolve(opts.outDir);
  const start = opts.start ?? '/';
  const { source, signal } = opts;
  const unlocker = opts.unlocker !== undefined ? opts.unlocker : new IdentityUnlocker(opts.identity, opts.password);
  const scopes = new KeyScopes(source, unlocker, { trustUnauthenticated: opts.trustUnauthenticated });
  const report: RecoverReport = { files: 0, decrypted: 0, copied: 0, salvaged: [], failed: [], unauthenticated: [], keyrings: [], sourceBytes: 0 };
  const folderTimes: { path: string; mtime: Date }[] = [];
  const onBytes = (n: number) => {
    report.sourceBytes += n;
    opts.progress?.bytes?.(n);
  };
  await mkdir(outDir, { recursive: true });
  try {
    for await (const item of scanTree(source, scopes, start, { signal, onScope: (o) => report.keyrings.push(o) })) {
      const rel = item.entry.path.slice(start === '/' ? 0 : start.length) || '/';
      const target = localPathOf(outDir, rel);
      if (item.kind === 'directory') {
        await mkdir(target, { recursive: true });
        if (item.entry.lastModified) folderTimes.push({ path: target, mtime: item.entry.lastModified });
        continue;
      }
      report.files += 1;
      opts.progress?.fileStarted?.(item.entry.path, item.entry.size);
      try {
        const outcome = await recoverFile(opts, scopes, item.entry.path, target, onBytes);
        if (outcome.kind === 'copied') report.copied += 1;
        else if (outcome.kind === 'decrypted') report.decrypted += 1;
        else report.salvaged.push({ path: item.entry.path, damage: outcome.damage, reportFile: outcome.reportFile });
        if (item.entry.lastModified) await utimes(target, item.entry.lastModified, item.entry.lastModified).catch(() => undefined);
      } catch (err) {
        if (isDavcryptError(err, 'DC_ERR_ABORTED') || signal?.aborted) throw toDavcryptError(signal?.reason ?? err);
        if (!isDavcryptError(err, 'DC_ERR_KEY_UNAUTHENTICATED')) report.failed.push(fileFailure(item.entry.path, err, scopes));
      }
      opts.progress?.fileDone?.(item.entry.path);
    }
    // Children change their folder's mtime: restore folders deepest first, after all files.
    for (const f of folderTimes.reverse()) await utimes(f.path, f.mtime, f.mtime).catch(() => undefined);
  } catch (err) {
    rethrowAbort(err, signal, 'recover');
  } finally {
    report.unauthenticated = scopes.unauthenticatedFiles();
    scopes.wipe();
  }
  return report;
}

type FileOutcome = { kind: 'copied' } | { kind: 'decrypted' } | { kind: 'salvaged'; damage: DamageRange[]; reportFile: string };

async function recoverFile(
  opts: RecoverOptions,
  scopes: KeyScopes,
  path: string,
  target: string,
  onBytes: (n: number) => void,
): Promise<FileOutcome> {
  const { source, signal } = opts;
  const tmp = join(dirname(target), OUT_TEMP_PREFIX + randomBytes(8).toString('hex'));
  const resolveKey = (keyId: Buffer) => scopes.resolve(path, keyId);
  try {
    const { body, info } = await source.read(path, { signal });
    const { head, stream } = await peekHead(body, 8);
    try {
      // Open the temp file before the pipeline runs: a write stream opening it lazily could create
      // it after the cleanup below already ran (a source failing at once left a 0-byte temp file).
      const out = (await open(tmp, 'wx', 0o600)).createWriteStream();
      if (!hasMagic(head)) {
        await pipeline(stream, countingStream(onBytes), out, { signal });
        await rename(tmp, target);
        return { kind: 'copied' };
      }
      await pipeline(
        stream,
        countingStream(onBytes),
        createDecryptStream({ resolveKey, cipherSize: info.size }),
        out,
        { signal },
      );
      await rename(tmp, target);
      return { kind: 'decrypted' };
    } catch (err) {
      stream.destroy();
      const e = toDavcryptError(err);
      if (!opts.skipBadSegments || !SALVAGEABLE.has(e.code)) throw e;
    }
    await rm(tmp, { force: true });
    const damage = await salvageInto(source, path, tmp, resolveKey, signal);
    await rename(tmp, target);
    const reportFile = target + DAMAGE_REPORT_SUFFIX;
    const lines = [
      `davcrypt recover: ${path} was damaged; the listed plaintext byte ranges (inclusive) could not be`,
      'verified and are zero-filled in the recovered file. Every other byte is verified.',
      ...formatDamage(damage),
    ];
    await writeFile(reportFile, lines.join('\n') + '\n');
    return { kind: 'salvaged', damage, reportFile };
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

async function salvageInto(
  source: Backend,
  path: string,
  tmp: string,
  resolveKey: (keyId: Buffer) => Buffer | undefined,
  signal?: AbortSignal,
): Promise<DamageRange[]> {
  const { body } = await source.read(path, { signal });
  const handle = await open(tmp, 'wx', 0o600);
  try {
    const result = await salvageEncrypted(body, {
      resolveKey,
      signal,
      write: async (plain, plainOffset) => {
        await handle.write(plain, 0, plain.length, plainOffset);
      },
    });
    await handle.truncate(result.plainSize);
    return result.damage;
  } finally {
    body.destroy();
    await handle.close();
  }
}
