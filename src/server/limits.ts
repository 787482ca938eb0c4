// Bounds on what one user can make the gateway hold or compute: dead properties per
// resource (count and bytes) and per mount (bytes), one property value, a lock's
// <owner>, locks per user and mount, property names in one PROPFIND. Each is
// configurable (server.limits) and answered with DC_ERR_LIMIT_EXCEEDED (403) naming the key.
// Pure values and one error factory; no I/O.
import { davError, type DavcryptError } from '../errors.js';

export interface ServerLimits {
  /** Dead properties stored on one resource. */
  deadPropsPerResource: number;
  /** UTF-8 bytes of all dead properties of one resource (their XML as stored). */
  deadPropBytesPerResource: number;
  /** UTF-8 bytes of all dead properties of one mount (every path: they are read and written as one entry). */
  deadPropBytesPerMount: number;
  /** UTF-8 bytes of one property element as sent in PROPPATCH. */
  propValueBytes: number;
  /** UTF-8 bytes of a LOCK's <owner> (kept with the lock, read with every request on the mount). */
  lockOwnerBytes: number;
  /** Live locks one user holds in one mount. */
  locksPerUser: number;
  /** Property names one PROPFIND may ask for (prop + include). */
  propfindProps: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  deadPropsPerResource: 100,
  deadPropBytesPerResource: 64 * 1024,
  deadPropBytesPerMount: 16 * 1024 * 1024,
  propValueBytes: 16 * 1024,
  lockOwnerBytes: 2048,
  locksPerUser: 200,
  propfindProps: 256,
});

/** DC_ERR_LIMIT_EXCEEDED for `what` over `limit`, naming the config key that raises it. */
export function limitExceeded(key: keyof ServerLimits, what: string, limit: number): DavcryptError {
  return davError('DC_ERR_LIMIT_EXCEEDED', `${what} exceeds the limit of ${limit} (server.limits.${key})`, { details: { limit: key } });
}
