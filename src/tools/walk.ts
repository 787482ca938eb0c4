// Walks a backend tree depth-first in name order, yielding folders (with whether
// they hold their own `.davcrypt/` keyring folder) and files. Skips `.davcrypt/`
// and backend temp files. Read-only: lists, never reads bodies or writes.
import { METADATA_FOLDER as KEYRING_FOLDER, TEMP_PREFIX as LOCAL_TEMP_PREFIX, joinPath, type Backend, type EntryInfo } from '../backends/index.js';

export interface WalkItem {
  kind: 'file' | 'directory';
  entry: EntryInfo;
  /** Folders only: a `.davcrypt/` folder is among its children (a mount, maybe nested, is rooted here). */
  hasKeyringFolder?: boolean;
}

export interface WalkOptions {
  signal?: AbortSignal;
  /** Called for each folder below the start; returning false skips its whole subtree (the folder is still yielded). */
  descend?: (item: WalkItem) => boolean;
}

/** True for names the tools never treat as user files: the keyring folder and backend temp files. */
export function isReservedName(name: string): boolean {
  return name.toLowerCase() === KEYRING_FOLDER || name.startsWith(LOCAL_TEMP_PREFIX);
}

/**
 * Yields `start` itself (as a folder) then every entry below it, parents before children.
 * Throws the backend's errors (DC_ERR_NOT_FOUND when start is missing, DC_ERR_NOT_A_COLLECTION).
 * A folder that vanishes during the walk is skipped.
 */
export async function* walkTree(backend: Backend, start: string = '/', opts: WalkOptions = {}): AsyncGenerator<WalkItem> {
  const startInfo = await backend.stat(start, { signal: opts.signal });
  const stack: { entry: EntryInfo; isStart: boolean }[] = [{ entry: { ...startInfo, path: start }, isStart: true }];
  while (stack.length > 0) {
    opts.signal?.throwIfAborted();
    const { entry, isStart } = stack.pop()!;
    let children: EntryInfo[];
    try {
      children = await backend.list(entry.path, { signal: opts.signal });
    } catch (err) {
      if (!isStart && (err as { code?: string }).code === 'DC_ERR_NOT_FOUND') continue;
      throw err;
    }
    const item: WalkItem = {
      kind: 'directory',
      entry,
      hasKeyringFolder: children.some((c) => c.type === 'directory' && c.name.toLowerCase() === KEYRING_FOLDER),
    };
    yield item;
    if (!isStart && opts.descend && !opts.descend(item)) continue;
    const visible = children.filter((c) => !isReservedName(c.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const folders: EntryInfo[] = [];
    for (const child of visible) {
      const path = joinPath(entry.path, child.name);
      if (child.type === 'directory') folders.push({ ...child, path });
      else yield { kind: 'file', entry: { ...child, path } };
    }
    for (let i = folders.length - 1; i >= 0; i--) stack.push({ entry: folders[i]!, isStart: false });
  }
}

/** Files and stored bytes below `start` (for a progress bar's totals); skips what `descend` skips. */
export async function countTree(backend: Backend, start: string = '/', opts: WalkOptions = {}): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const item of walkTree(backend, start, opts)) {
    if (item.kind !== 'file') continue;
    files += 1;
    bytes += item.entry.size;
  }
  return { files, bytes };
}
