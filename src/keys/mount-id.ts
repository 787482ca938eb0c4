// The id of one encrypted mount's state (keyring, revocation marker, locks, dead properties, audit
// lines). Its string form is also an input of every keyring tag (docs/FORMAT.md §3.4), so that form
// is fixed byte for byte: 'home:<user>' (a per-user mount at /), 'home:<user>:<path>' (a per-user
// mount elsewhere) and 'shared:<path>' (a mount for a list of users).
//
// Inside the gateway an id travels as a MountId: plain, frozen data ({kind, user, path}) that only
// this module builds, so every MountId holds a valid user name and an absolute path, and code asks
// `id.kind === 'shared'` instead of looking at a string's prefix. The string is made by
// formatMountId where an id is stored, tagged or logged, and read back by parseMountId /
// requireMountId where it comes back from the store, a backend keyring or the command line.
// Why data and not an object that also carries its string: the string costs one concatenation
// (cheaper than any lookup), a formatMountId call marks each place the fixed bytes leave the
// process, and plain data compares with sameMountId and in tests with toEqual. The brand (a type
// only) stops a hand-built literal from passing as a checked id. What the type checker cannot see
// is an id dropped into a template literal (`keyring:${id}`), which would store '[object Object]':
// converting an id to a string throws instead (idValue), so such a slip fails its first test.
//
// In keys/ because keys/ stores and tags by it and is the lowest layer that does; users/ and
// server/ use it through users/index.ts. It reads the user-name rule from config/.
import { isValidUserName } from '../config/user-names.js';
import { davError } from '../errors.js';

declare const checked: unique symbol;

/** A checked mount id; build one with homeMountId, sharedMountId or parseMountId. */
export type MountId = (
  | { readonly kind: 'home'; readonly user: string; readonly path: string }
  | { readonly kind: 'shared'; readonly path: string }
) & { readonly [checked]: true };

/** The id of `user`'s per-user mount at `path`. Throws DC_ERR_USAGE for an invalid user name or a relative path. */
export function homeMountId(user: string, path: string): MountId {
  if (!isValidUserName(user)) throw davError('DC_ERR_USAGE', `invalid user name ${JSON.stringify(user)} in a mount id`);
  return idValue({ kind: 'home', user, path: absolute(path) }) as MountId;
}

/** The id of the shared mount at `path`. Throws DC_ERR_USAGE for a relative path. */
export function sharedMountId(path: string): MountId {
  return idValue({ kind: 'shared', path: absolute(path) }) as MountId;
}

/** The stored/tagged/logged form of a mount id (the fixed bytes above). */
export function formatMountId(id: MountId): string {
  if (id.kind === 'shared') return `shared:${id.path}`;
  return id.path === '/' ? `home:${id.user}` : `home:${id.user}:${id.path}`;
}

/** The mount id a string names, or undefined when it is not one (a bad user name included). */
export function parseMountId(text: string): MountId | undefined {
  if (text.startsWith('shared:')) {
    const path = text.slice('shared:'.length);
    return path.startsWith('/') ? sharedMountId(path) : undefined;
  }
  if (!text.startsWith('home:')) return undefined;
  const rest = text.slice('home:'.length);
  const colon = rest.indexOf(':');
  const user = colon < 0 ? rest : rest.slice(0, colon);
  const path = colon < 0 ? '/' : rest.slice(colon + 1);
  if (!isValidUserName(user) || !path.startsWith('/')) return undefined;
  return homeMountId(user, path);
}

/** parseMountId for a string that must be a mount id (`what` names where it came from). Throws DC_ERR_USAGE. */
export function requireMountId(text: string, what: string): MountId {
  const id = parseMountId(text);
  if (!id) {
    throw davError('DC_ERR_USAGE', `${what}: ${JSON.stringify(text)} is not a mount id ('home:USER', 'home:USER:/PATH' or 'shared:/PATH')`);
  }
  return id;
}

/** True when both name the same mount. */
export function sameMountId(a: MountId, b: MountId): boolean {
  return formatMountId(a) === formatMountId(b);
}

/**
 * Freezes an id object and makes any implicit conversion to a string or number throw
 * DC_ERR_INTERNAL (a non-enumerable Symbol.toPrimitive: equality and toEqual are unaffected).
 * For ids whose string form has one producer (formatMountId here, mountStateKey in users/).
 */
export function idValue<T extends object>(value: T): Readonly<T> {
  Object.defineProperty(value, Symbol.toPrimitive, {
    enumerable: false,
    value: () => {
      throw davError('DC_ERR_INTERNAL', 'an id object was used as a string; build its stored form with formatMountId / mountStateKey');
    },
  });
  return Object.freeze(value);
}

function absolute(path: string): string {
  if (!path.startsWith('/')) throw davError('DC_ERR_USAGE', `mount path ${JSON.stringify(path)} in a mount id must start with /`);
  return path;
}
