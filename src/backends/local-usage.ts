// Bytes a local backend's own folder tree uses, for RFC 4331 quota-used-bytes: the user's own
// storage, never the whole file system's usage (which would show every user the host's disk and
// everyone else's files). Walking a big tree costs one stat per file, so a result is kept for
// USAGE_CACHE_MS and concurrent asks share one walk. Reads directory entries and sizes only.
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

/** How long a measured usage is reused (quota is asked on every Finder/Explorer refresh). */
export const USAGE_CACHE_MS = 30_000;

/** Sum of the sizes of the regular files below `dir` (symlinks are not followed). */
export async function treeBytes(dir: string, signal?: AbortSignal): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const current = pending.pop()!;
    let entries;
    try {
      entries = await fsp.readdir(current, { withFileTypes: true });
    } catch {
      continue; // removed meanwhile, or unreadable: not counted
    }
    for (const e of entries) {
      const path = join(current, e.name);
      if (e.isDirectory()) pending.push(path);
      else if (e.isFile()) total += await fsp.lstat(path).then((s) => s.size, () => 0);
    }
  }
  return total;
}

/** treeBytes of one folder, measured at most once per USAGE_CACHE_MS. */
export class UsageCache {
  private last?: { at: number; bytes: number };
  private inFlight?: Promise<number>;

  constructor(private readonly dir: string, private readonly now: () => number = Date.now) {}

  bytes(): Promise<number> {
    if (this.last && this.now() - this.last.at < USAGE_CACHE_MS) return Promise.resolve(this.last.bytes);
    this.inFlight ??= treeBytes(this.dir)
      .then((bytes) => {
        this.last = { at: this.now(), bytes };
        return bytes;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
