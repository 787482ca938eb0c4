// The storage layout: every name davcrypt itself gives to something on a backend (and in a
// recover output folder), in one place. Code that spells one of these names imports it from
// here; docs/DESIGN.md §6 describes the layout. Pure: names and path arithmetic, no I/O.
//
// Two shapes of temporary file, on purpose:
// - TEMP_PREFIX names beside their target (`<folder>/.davcrypt-tmp-<16 hex>`): a backend's own
//   write-then-rename (and copy-then-rename, upload probes). They must sit in the target's
//   folder because a rename is atomic only there (rename(2) within one file system, a MOVE
//   within one WebDAV share or Dropbox account), so an aborted write leaves the old version.
//   Every backend hides them from listings and refuses them as paths; the temp sweep removes
//   old ones (TEMP_NAME) left by a killed gateway.
// - Tool work folders in the metadata folder (`<mount root>/.davcrypt/<job>/<random>`): the
//   offline jobs (key rotate --reencrypt, encrypt-all / decrypt-all) keep a converted copy
//   there across several Backend calls (write, read back and verify, then MOVE over the
//   original) while the gateway serves. They work through the Backend interface, which
//   refuses TEMP_PREFIX names, the age-based sweep must not take a copy being verified, and a
//   resumed run cleans up by listing one folder instead of walking the tree.
import { joinPath } from './paths.js';

/**
 * The gateway's metadata folder at a mount root (and at a nested mount's root): holds the
 * keyring escrow and the tools' work folders. Clients never see or touch it; compared
 * case-insensitively (a case-insensitive backend would find `.DAVCRYPT` too).
 */
export const METADATA_FOLDER = '.davcrypt';
/** The keyring escrow's file name in METADATA_FOLDER (docs/FORMAT.md). */
export const KEYRING_FILE = 'keyring.json';
/** METADATA_FOLDER of a mount rooted at the backend root. */
export const KEYRING_DIR = `/${METADATA_FOLDER}`;
/** The keyring escrow of a mount rooted at the backend root. */
export const KEYRING_PATH = `${KEYRING_DIR}/${KEYRING_FILE}`;

/** METADATA_FOLDER of a mount rooted at `root` (a normalized backend path). */
export function metadataFolderOf(root: string): string {
  return joinPath(root, METADATA_FOLDER);
}

/** The offline jobs that keep converted copies in a work folder (see the header). */
export const TOOL_WORK_FOLDERS = { reencrypt: 'reencrypt', migrate: 'migrate' } as const;

/** The work folder of `job` for the mount rooted at `root`: `<root>/.davcrypt/<job>`. */
export function toolWorkFolder(root: string, job: keyof typeof TOOL_WORK_FOLDERS): string {
  return joinPath(metadataFolderOf(root), TOOL_WORK_FOLDERS[job]);
}

/** Prefix of a backend's in-progress files beside their target; listings hide them, requests cannot name them. */
export const TEMP_PREFIX = '.davcrypt-tmp-';
/** Exactly the names backends give their temp files (TEMP_PREFIX, maybe `probe-`, 16 hex): what the temp sweep may remove. */
export const TEMP_NAME = /^\.davcrypt-tmp-(?:probe-)?[0-9a-f]{16}$/;

/** `davcrypt recover` output folder: a file being written, renamed when complete (local disk, not a backend). */
export const RECOVER_TEMP_PREFIX = '.davcrypt-recover-';
/** `davcrypt recover` output folder: the damage report written beside a file that did not decrypt whole. */
export const DAMAGE_REPORT_SUFFIX = '.davcrypt-damage.txt';
