// The id of one encrypted mount's state (keyring, locks, dead properties, audit lines). It is also an
// input of every keyring tag (docs/FORMAT.md §3.4), so its string form is fixed byte for byte:
// 'home:<user>' (a per-user mount at /), 'home:<user>:<path>' (a per-user mount elsewhere) and
// 'shared:<path>' (a mount for a list of users). Built and read only here.
import { isValidUserName } from '../config/user-names.js';

export type MountId =
  | { kind: 'home'; user: string; path: string }
  | { kind: 'shared'; path: string };

/** The stored/tagged form of a mount id. */
export function formatMountId(id: MountId): string {
  if (id.kind === 'shared') return `shared:${id.path}`;
  return id.path === '/' ? `home:${id.user}` : `home:${id.user}:${id.path}`;
}

/** The mount id a string names, or undefined when it is not one (a bad user name included). */
export function parseMountId(text: string): MountId | undefined {
  if (text.startsWith('shared:')) {
    const path = text.slice('shared:'.length);
    return path.startsWith('/') ? { kind: 'shared', path } : undefined;
  }
  if (!text.startsWith('home:')) return undefined;
  const rest = text.slice('home:'.length);
  const colon = rest.indexOf(':');
  const user = colon < 0 ? rest : rest.slice(0, colon);
  const path = colon < 0 ? '/' : rest.slice(colon + 1);
  if (!isValidUserName(user) || !path.startsWith('/')) return undefined;
  return { kind: 'home', user, path };
}

/** Is this the id of a shared mount (one keyring for a list of users)? */
export function isSharedMountId(text: string): boolean {
  return parseMountId(text)?.kind === 'shared';
}
