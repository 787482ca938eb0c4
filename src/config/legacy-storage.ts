// Start-time guard for the layout change of the embedded default: stored files used to live in
// <dataDir>/storage/<user>/ and now live in ./storage/<user>/, apart from the gateway state.
// An install that still has files in the old place must not start on an empty new place (every
// user would see an empty home and new keys would be made): refuse with the one-line fix.
// Reads folder listings only; never moves or writes anything.
import { readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { davError } from '../errors.js';
import type { Config } from './types.js';

/** The old default place of the stored files: <dataDir>/storage. */
export function legacyStorageDir(config: Config): string {
  return resolve(config.dataDir, 'storage');
}

function entriesOf(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch {
    return undefined;
  }
}

function isSameOrBelow(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : parent + '/');
}

/**
 * Throws DC_ERR_CONFIG when <dataDir>/storage holds files but no mount of the config stores there
 * (the old default layout): the message names the folder and the `mv` that fixes it. Returns quietly
 * otherwise, also when the config keeps using the old place on purpose ({dataDir}/storage/{user}).
 */
export function assertNoLegacyStorage(config: Config): void {
  const legacy = legacyStorageDir(config);
  const old = entriesOf(legacy);
  if (!old || old.length === 0) return;
  const localRoots = config.mounts.flatMap((m) => (m.backend.type === 'local' ? [m.backend.root] : []));
  if (localRoots.some((root) => isSameOrBelow(legacy, root) || isSameOrBelow(root.split('{user}')[0]!.replace(/\/+$/, ''), legacy))) return;
  // Where the files belong now: the folder above {user} of the first per-user local mount.
  const home = config.mounts.find((m) => m.backend.type === 'local' && m.perUser);
  const target = home && home.backend.type === 'local' ? dirname(home.backend.root.split('{user}')[0]! + 'x') : undefined;
  const targetUsed = target !== undefined && (entriesOf(target)?.length ?? 0) > 0;
  const fix = target
    ? targetUsed
      ? `both ${legacy} and ${target} hold files: merge them by hand (each user folder in one place), or set mounts[].backend.root: {dataDir}/storage/{user} to keep using the old place`
      : `stop here and run: mv ${legacy} ${target}   (or set mounts[].backend.root: {dataDir}/storage/{user} to keep using the old place)`
    : `set a mount's backend.root to {dataDir}/storage/{user} to keep using it, or move its user folders to where your mounts store files`;
  throw davError(
    'DC_ERR_CONFIG',
    `${legacy} holds stored files of the earlier default layout (files inside the data folder), but no mount of ${config.source ?? 'the config'} stores there; ` +
      `starting would show every user an empty home. Nothing was changed. Fix: ${fix}`,
    { details: { keys: ['mounts'] } },
  );
}
