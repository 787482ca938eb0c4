// The walk shared by recover and verify: walks a tree, opening the keyring of the
// start folder and of every nested mount on the way (KeyScopes), and turns a
// file's failure into a report line (path, code, reason). Read-only.
import type { Backend } from '../backends/index.js';
import { davError, isDavcryptError, toDavcryptError, type ErrorCode } from '../errors.js';
import type { KeyScopes, ScopeOutcome } from './key-scopes.js';
import { walkTree, type WalkItem } from './walk.js';

/** One file the tool could not process. */
export interface FileFailure {
  path: string;
  code: ErrorCode;
  message: string;
}

/** Callbacks for progress display; all optional, none may throw. */
export interface ToolProgress {
  fileStarted?(path: string, size: number): void;
  bytes?(n: number): void;
  fileDone?(path: string): void;
}

export interface ScanOptions {
  signal?: AbortSignal;
  /** The start folder's keys are already registered in `scopes` (config form): do not read its keyring. */
  startPreOpened?: boolean;
  /** Called for every keyring found (start and nested). */
  onScope?: (outcome: ScopeOutcome) => void;
}

/**
 * Walks `source` from `start`, entering keyrings as it goes. The start folder's keyring must open
 * when present: a wrong password there throws (DC_ERR_WRONG_PASSWORD, DC_ERR_NO_ACCESS,
 * DC_ERR_KEYRING_INVALID) before any file is touched. Nested keyrings that do not open are
 * reported through onScope and their files fail one by one.
 */
export async function* scanTree(source: Backend, scopes: KeyScopes, start: string, opts: ScanOptions = {}): AsyncGenerator<WalkItem> {
  if (!opts.startPreOpened) {
    const outcome = await scopes.enter(start, opts.signal);
    if (outcome.status === 'failed') {
      throw davError(outcome.error.code, `cannot open the keyring of ${source.name}${start === '/' ? '' : start}: ${outcome.error.message}`, {
        cause: outcome.error,
      });
    }
    if (outcome.status === 'none' && !(await hasKeyringBelow(source, start, opts.signal))) throw noKeyring(source, start);
    opts.onScope?.(outcome);
  }
  for await (const item of walkTree(source, start, { signal: opts.signal })) {
    if (item.kind === 'directory' && item.entry.path !== start && item.hasKeyringFolder) {
      const outcome = await scopes.enter(item.entry.path, opts.signal);
      if (outcome.status !== 'none') opts.onScope?.(outcome);
    }
    yield item;
  }
}

/** True when a folder below `start` (not start itself) holds a `.davcrypt/` folder: a nested mount. */
async function hasKeyringBelow(source: Backend, start: string, signal?: AbortSignal): Promise<boolean> {
  for await (const item of walkTree(source, start, { signal })) {
    if (item.kind === 'directory' && item.entry.path !== start && item.hasKeyringFolder) return true;
  }
  return false;
}

/**
 * No keyring at the start folder nor below: not a mount root (a subfolder of one, or not davcrypt
 * storage at all). Refused rather than "recovered" as plaintext: encrypted files would all fail,
 * and a wrong password would go unnoticed. `details.noKeyring` lets the CLI add where to look.
 */
function noKeyring(source: Backend, start: string) {
  return davError(
    'DC_ERR_NOT_FOUND',
    `no .davcrypt/keyring.json in ${source.name}${start === '/' ? '' : start} or below: this is not the root of an encrypted mount. ` +
      'Point --from at the mount root (the folder holding .davcrypt/keyring.json, e.g. the user\'s home folder), not at a subfolder',
    { details: { noKeyring: true } },
  );
}

/** A file's failure for the report: an unknown key in a scope whose keyring did not open names that keyring. */
export function fileFailure(path: string, err: unknown, scopes: KeyScopes): FileFailure {
  const e = toDavcryptError(err);
  if (e.code === 'DC_ERR_UNKNOWN_KEY') {
    const scope = scopes.scopeFailure(path);
    if (scope) return { path, code: scope.error.code, message: `keyring ${scope.keyringPath} did not open: ${scope.error.message}` };
  }
  return { path, code: e.code, message: e.message };
}

/** Rethrows `err`, as DC_ERR_ABORTED when the signal fired (its reason may be any value). */
export function rethrowAbort(err: unknown, signal: AbortSignal | undefined, what: string): never {
  if (signal?.aborted && !isDavcryptError(err, 'DC_ERR_ABORTED')) {
    throw davError('DC_ERR_ABORTED', `${what} aborted`, { cause: signal.reason });
  }
  throw err;
}
