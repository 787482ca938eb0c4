// Integrity scan: decrypts every encrypted file of a tree into a null sink, so every
// tag, the last-segment flag and the length are checked, and lists the files that
// fail (tampered, truncated, unknown key...). A file without the DAVCRYPT magic fails
// too (plaintext: refuse, as the gateway would refuse to serve it) or is counted as
// plaintext (plaintext: read). Read-only: never writes to the backend.
import { pipeline } from 'node:stream/promises';
import type { Backend } from '../backends/index.js';
import { createDecryptStream, hasMagic, parseHeader } from '../crypto/index.js';
import { isDavcryptError, toDavcryptError } from '../errors.js';
import type { KeyScopes, ScopeOutcome, UnauthenticatedUse } from './key-scopes.js';
import type { WalkItem } from './walk.js';
import { countingStream, nullSink, peekHead } from './streams.js';
import { fileFailure, rethrowAbort, scanTree, type FileFailure, type ToolProgress } from './tree-scan.js';

export interface VerifyOptions {
  source: Backend;
  /** Keys: built by the caller (offline: from the backend keyring; config form: from the store). */
  scopes: KeyScopes;
  /** Folder to start at (default '/'). */
  start?: string;
  /** The start folder's keys are already in `scopes` (do not read its backend keyring). */
  startPreOpened?: boolean;
  signal?: AbortSignal;
  progress?: ToolProgress;
  /** A file without the magic: 'refuse' (default) lists it as FAILED; 'read' counts it as plaintext. */
  plaintext?: 'refuse' | 'read';
}

export interface VerifyReport {
  files: number;
  /** Encrypted files whose every segment verified. */
  verified: number;
  /** Files without the magic (not encrypted), counted under plaintext: read only. */
  plaintext: number;
  failed: FileFailure[];
  /** Files under a key the identity's keyring tag does not vouch for: skipped (not verified), or checked with trustUnauthenticated. */
  unauthenticated: UnauthenticatedUse[];
  keyrings: ScopeOutcome[];
  sourceBytes: number;
}

/** True when every file verified (nothing failed, nothing skipped for an unauthenticated key). */
export function verifySucceeded(r: VerifyReport): boolean {
  return r.failed.length === 0 && r.unauthenticated.every((u) => u.used);
}

/**
 * Verifies every file below `start`. Throws only when it cannot begin (start keyring does not open,
 * the start cannot be listed) or on DC_ERR_ABORTED; per-file problems land in the report.
 */
export async function verifyTree(opts: VerifyOptions): Promise<VerifyReport> {
  const { source, scopes, signal } = opts;
  const report: VerifyReport = { files: 0, verified: 0, plaintext: 0, failed: [], unauthenticated: [], keyrings: [], sourceBytes: 0 };
  const onBytes = (n: number) => {
    report.sourceBytes += n;
    opts.progress?.bytes?.(n);
  };
  if (opts.startPreOpened) report.keyrings.push(scopes.outcomeOf(opts.start ?? '/'));
  const scan = scanTree(source, scopes, opts.start ?? '/', {
    signal,
    startPreOpened: opts.startPreOpened,
    onScope: (o) => report.keyrings.push(o),
  });
  try {
    for await (const item of scan) await verifyOne(opts, item, report, onBytes);
  } catch (err) {
    rethrowAbort(err, signal, 'verify');
  } finally {
    report.unauthenticated = scopes.unauthenticatedFiles();
  }
  return report;
}

async function verifyOne(opts: VerifyOptions, item: WalkItem, report: VerifyReport, onBytes: (n: number) => void): Promise<void> {
  const { source, scopes, signal } = opts;
  if (item.kind !== 'file') return;
  const path = item.entry.path;
  report.files += 1;
  opts.progress?.fileStarted?.(path, item.entry.size);
  try {
    const { body, info } = await source.read(path, { signal });
    const { head, stream } = await peekHead(body, 8);
    if (!hasMagic(head)) {
      stream.destroy();
      if (opts.plaintext !== 'read') {
        parseHeader(head); // throws DC_ERR_NOT_ENCRYPTED (or DC_ERR_BAD_HEADER: cut inside the magic)
      }
      report.plaintext += 1;
    } else {
      await pipeline(
        stream,
        countingStream(onBytes),
        createDecryptStream({ resolveKey: (id) => scopes.resolve(path, id), cipherSize: info.size }),
        nullSink(),
        { signal },
      );
      report.verified += 1;
    }
  } catch (err) {
    if (isDavcryptError(err, 'DC_ERR_ABORTED') || signal?.aborted) throw toDavcryptError(signal?.reason ?? err);
    if (!isDavcryptError(err, 'DC_ERR_KEY_UNAUTHENTICATED')) report.failed.push(fileFailure(path, err, scopes));
  }
  opts.progress?.fileDone?.(path);
}
