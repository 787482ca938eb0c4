// Whose per-mount state the WebDAV front keeps for a resolved mount (locks, dead properties, file
// ids and folder ETags): a configured mount's, named by its MountId, or a share link's own, so a
// link's visitors neither see nor take the owner's locks and properties. The store keys and hashes
// of that state are built from mountStateKey, whose strings are the ones stored before ids were
// typed ('home:alice', 'shared:/team', 'share:<link id>'): existing locks and properties stay found.
import { formatMountId, idValue, type MountId } from '../keys/mount-id.js';

export type MountStateId = MountId | { readonly kind: 'link'; readonly link: string };

/** The state id of a share link's sessions (`link`: the link's public id). */
export function linkStateId(link: string): MountStateId {
  return idValue({ kind: 'link', link });
}

/** The string the state of a mount is stored and hashed under. */
export function mountStateKey(id: MountStateId): string {
  return id.kind === 'link' ? `share:${id.link}` : formatMountId(id);
}
