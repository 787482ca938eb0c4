// The only module that imports webdav-server 2.6.3. It stays the router: our
// request layer calls `executeRequest`, and every method it dispatches to is one of
// ours registered with `server.method()` as a chunked (streaming) handler, so the
// library never buffers bodies, authenticates, evaluates If, or touches storage.
// Must not hold any state besides the registration table.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { v2 as webdav } from 'webdav-server';
import type { Logger } from '../logging.js';

export type MethodHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface DavEngine {
  /** Routes one request to its handler through webdav-server; resolves when the handler finished. */
  dispatch(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

interface Pending {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The user the library sees: authentication already happened in our request layer. */
const GATEWAY_USER = { uid: 'gateway', username: 'gateway', isAdministrator: true, isDefaultUser: false };

/**
 * Builds the engine. `handlers` maps upper-case method names to our implementations;
 * anything else goes to `unknown`. Library callbacks that throw reject the request's
 * promise instead of crashing the process.
 */
export function createDavEngine(handlers: Record<string, MethodHandler>, unknown: MethodHandler, logger: Logger): DavEngine {
  const pending = new WeakMap<IncomingMessage, Pending>();
  const server = new webdav.WebDAVServer({
    requireAuthentification: false,
    strictMode: false,
    respondWithPaths: true,
    httpAuthentication: {
      askForAuthentication: () => ({}),
      getUser: (_ctx: unknown, callback: (error: Error, user?: webdav.IUser) => void) => callback(undefined as unknown as Error, GATEWAY_USER),
    },
  });

  const wrap = (handler: MethodHandler): webdav.HTTPMethod => ({
    isValidFor: () => true,
    chunked: (base: webdav.HTTPRequestContext, _stream: unknown, _done: () => void) => {
      const req = base.request as IncomingMessage;
      const settle = pending.get(req);
      pending.delete(req);
      let run: Promise<void>;
      try {
        run = handler(req, base.response as ServerResponse);
      } catch (err) {
        run = Promise.reject(err);
      }
      run.then(() => settle?.resolve(), (err: unknown) => settle?.reject(err));
    },
  });

  for (const [name, handler] of Object.entries(handlers)) server.method(name, wrap(handler));
  server.onUnknownMethod(wrap(unknown));

  return {
    dispatch(req, res) {
      return new Promise<void>((resolve, reject) => {
        pending.set(req, { resolve, reject });
        // If the library answers by itself (e.g. a path it cannot resolve), settle on close.
        res.once('close', () => {
          if (pending.get(req)) { pending.delete(req); resolve(); }
        });
        try {
          server.executeRequest(req, res);
        } catch (err) {
          pending.delete(req);
          logger.warn('webdav-server threw while routing', { error: (err as Error)?.message });
          reject(err);
        }
      });
    },
  };
}
