// The seam between the WebDAV front and the browser front (src/web): the request
// layer asks it first to answer browser-only requests (the page, its assets,
// sign-in, share link pages), then who a request is when a session cookie or a
// share link names it (a link brings its own mount). Types only; server/ never
// imports src/web.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticatedUser, ResolvedMount } from '../users/types.js';

export interface WebFront {
  /** Answers the request when it is the browser front's (true); false leaves it to WebDAV. Never throws for a request it declines. */
  handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<boolean>;
  /**
   * Who the request is when the browser front knows: a share link path (the link's principal with
   * its one mount, scoped to what it shares), or, without Basic credentials, a session cookie (the
   * user's own mounts come from the MountResolver). Undefined: neither, Basic auth decides.
   * Throws DC_ERR_UNAUTHORIZED (unknown or expired session, wrong link password: a session gets no
   * Basic challenge, so a browser shows no password dialog), DC_ERR_FORBIDDEN (a state-changing
   * method without the session's CSRF token), DC_ERR_NOT_FOUND (unknown, expired or revoked link).
   */
  authenticate(req: IncomingMessage, method: string, path: string): Promise<{ user: AuthenticatedUser; mounts?: ResolvedMount[] } | undefined>;
  /** The path as the access log may show it (share tokens replaced by the link id). */
  logPath(path: string): string;
}
