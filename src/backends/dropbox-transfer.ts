// move() and copy() of the Dropbox backend. Dropbox's move_v2/copy_v2 never overwrite and
// refuse case-only renames, so: a replaced target is first moved aside to a hidden temp
// name and dropped only after the source is in place (put back if that fails), and a
// rename between two spellings of one name goes through a temp name. Parents are checked
// first because Dropbox would create missing ones.
import { randomBytes } from 'node:crypto';
import { davError } from '../errors.js';
import { hasTags, type DropboxApi } from './dropbox-api.js';
import type { DropboxMetadata, DropboxPaths } from './dropbox-types.js';
import { TEMP_PREFIX } from './layout.js';
import { foldName, isSameOrInside, joinPath, parentPath } from './paths.js';
import type { EntryInfo, TransferOptions } from './types.js';

/** What a transfer needs of its backend. */
export interface TransferContext {
  name: string;
  api: DropboxApi;
  paths: DropboxPaths;
  /** stat() that answers undefined for a missing path (the account root faked). */
  lookup(path: string, signal?: AbortSignal): Promise<EntryInfo | undefined>;
  /** get_metadata, undefined when missing; its `name` is the stored spelling. */
  metadata(path: string, signal?: AbortSignal): Promise<DropboxMetadata | undefined>;
}

/** Throws DC_ERR_NOT_FOUND, DC_ERR_EXISTS (target exists, no overwrite), DC_ERR_CONFLICT, DC_ERR_FORBIDDEN. */
export async function transferEntry(ctx: TransferContext, op: 'move' | 'copy', from: string, to: string, opts: TransferOptions): Promise<void> {
  const where = `${ctx.name} ${op} ${from} -> ${to}`;
  const { signal } = opts;
  const relocate = (a: string, b: string, kind: 'move' | 'copy' = 'move', s = signal) => ctx.api.rpc(
    kind === 'move' ? 'files/move_v2' : 'files/copy_v2',
    { from_path: ctx.paths.toDropbox(a), to_path: ctx.paths.toDropbox(b), autorename: false }, s,
  );
  const aside = () => joinPath(parentPath(to), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  // Two spellings of one name (a.txt -> A.txt): a rename for move; for copy the target is the source.
  const respell = op === 'move' && from !== to && foldName(from) === foldName(to);
  if (from === '/' || to === '/' || (!respell && isSameOrInside(foldName(from), foldName(to)))) {
    throw davError('DC_ERR_FORBIDDEN', `${where}: target is the source, inside it, or the root`, { details: { path: from, to } });
  }
  const [source, target, parent] = await Promise.all([
    ctx.lookup(from, signal), respell ? undefined : ctx.metadata(to, signal), ctx.lookup(parentPath(to), signal),
  ]);
  if (!source) throw davError('DC_ERR_NOT_FOUND', `${where}: source not found`, { details: { path: from } });
  if (parent?.type !== 'directory') throw davError('DC_ERR_CONFLICT', `${where}: target parent missing`, { details: { path: to } });
  if (respell) {
    const tmp = aside();
    await relocate(from, tmp);
    try {
      await relocate(tmp, to);
    } catch (err) {
      await relocate(tmp, from, 'move', undefined).catch(() => undefined);
      throw err;
    }
    return;
  }
  const exists = target !== undefined && target['.tag'] !== 'deleted';
  if (exists && !opts.overwrite) throw davError('DC_ERR_EXISTS', `${where}: target exists`, { details: { path: to } });
  const mapped = (err: unknown): unknown => {
    if (hasTags(err, 'from_lookup', 'not_found')) return davError('DC_ERR_NOT_FOUND', `${where}: source not found`, { cause: err, details: { path: from } });
    if (hasTags(err, 'to', 'conflict')) return davError('DC_ERR_EXISTS', `${where}: target exists`, { cause: err, details: { path: to } });
    if (hasTags(err, 'cant_move_folder_into_itself') || hasTags(err, 'duplicated_or_nested_paths')) {
      return davError('DC_ERR_FORBIDDEN', `${where}: target is inside the source`, { cause: err, details: { path: from, to } });
    }
    return err;
  };
  if (!exists) {
    await relocate(from, to, op).catch((err: unknown) => { throw mapped(err); });
    return;
  }
  // Replace without a window in which the old target is lost: aside, in place, then drop.
  const old = aside();
  await relocate(to, old).catch((err: unknown) => { throw mapped(err); });
  try {
    await relocate(from, to, op);
  } catch (err) {
    await relocate(old, to, 'move', undefined).catch(() => undefined);
    throw mapped(err);
  }
  await ctx.api.rpc('files/delete_v2', { path: ctx.paths.toDropbox(old) }).catch(() => undefined);
}
