// The seam between the WebDAV front and the browser front (src/web): the request
// layer asks it first to answer browser-only requests (the page, its assets,
// sign-in, share links), and asks it who a request's session cookie names when no
// Basic credentials came. Types only; server/ never imports src/web.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticatedUser } from '../users/types.js';

export interface WebFront {
  /** Answers the request when it is the browser front's (true); false leaves it to WebDAV. Never throws for a request it declines. */
  handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<boolean>;
  /**
   * The user a session cookie names, or undefined when the request carries no session cookie.
   * Throws DC_ERR_UNAUTHORIZED (unknown or expired session: answered without a Basic challenge, so a
   * browser shows no password dialog) and DC_ERR_FORBIDDEN (a state-changing method without the
   * session's CSRF token).
   */
  sessionUser(req: IncomingMessage, method: string): Promise<AuthenticatedUser | undefined>;
}
