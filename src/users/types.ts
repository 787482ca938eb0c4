// The seam between the HTTP front (src/server) and accounts/keys (src/users,
// src/keys): the server asks who a request is and which mounts that user sees;
// it never touches passwords, envelopes or keyrings itself.
import type { Backend } from '../backends/types.js';
import type { MountStateId } from './mount-state.js';

export interface AuthenticatedUser {
  name: string;
}

/** A mount as one logged-in user sees it. */
export interface ResolvedMount {
  /** URL path prefix without trailing slash ('' for a mount at '/', '/shared' otherwise). */
  urlPrefix: string;
  /** Whose per-mount state (locks, dead properties) this mount uses: its MountId, or a share link's own (mount-state.ts). */
  id: MountStateId;
  /** Backend rooted at the mount, already wrapped in EncryptingBackend when the mount encrypts. */
  backend: Backend;
  encrypted: boolean;
  /** PUT answers must carry the new ETag even when that costs a stat (the ownCloud/Nextcloud sync clients fail without it). */
  etagAfterWrite?: boolean;
  /** ownCloud/Nextcloud alias views: the shared change generation their folder ETags are made of (server/nextcloud/view.ts). */
  folderGeneration?: string;
}

export interface Authenticator {
  /** Verifies Basic credentials. One argon2id per fresh login, then a keyed in-memory cache.
   *  Throws DC_ERR_UNAUTHORIZED (unknown user or wrong password) or DC_ERR_TOO_MANY_REQUESTS (throttled). */
  authenticate(username: string, password: string, clientAddress: string): Promise<AuthenticatedUser>;
}

export interface MountResolver {
  /** The mounts a user sees, longest urlPrefix first. Unlocks keys lazily (first use creates the home key). */
  mountsFor(user: AuthenticatedUser): Promise<ResolvedMount[]>;
}
