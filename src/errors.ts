// The one registry of davcrypt errors. Every error the project raises is a
// DavcryptError with a stable `code` from this table; what a code means is decided
// here, what it looks like to a client is decided at the edges: the server maps codes
// to HTTP statuses (src/server/error-status.ts) and the tools to exit codes. Never
// match on message text.

/** Stable error codes and a one-line meaning each (docs/errors.md lists them all). */
export const ERROR_CODES = {
  // Request / resource semantics
  DC_ERR_BAD_REQUEST: { meaning: 'the request is malformed' },
  DC_ERR_UNAUTHORIZED: { meaning: 'missing or wrong credentials' },
  DC_ERR_FORBIDDEN: { meaning: 'the operation is not allowed on this path' },
  DC_ERR_NOT_FOUND: { meaning: 'no such file or folder' },
  DC_ERR_METHOD_NOT_ALLOWED: { meaning: 'the method does not apply to this resource' },
  DC_ERR_EXISTS: { meaning: 'the target already exists' },
  DC_ERR_CONFLICT: { meaning: 'a parent folder is missing or the resource type conflicts' },
  DC_ERR_NOT_A_COLLECTION: { meaning: 'a folder was expected' },
  DC_ERR_IS_A_COLLECTION: { meaning: 'a file was expected' },
  DC_ERR_NAME_CONFLICT: { meaning: 'a name differing only in letter case or Unicode form exists (case-insensitive backend)' },
  DC_ERR_REQUEST_TIMEOUT: { meaning: 'the request body stopped arriving (idle upload)' },
  DC_ERR_LENGTH_REQUIRED: { meaning: 'the request body needs a Content-Length' },
  DC_ERR_PRECONDITION_FAILED: { meaning: 'a conditional header did not match' },
  DC_ERR_PAYLOAD_TOO_LARGE: { meaning: 'the request body is larger than allowed' },
  DC_ERR_UNSUPPORTED_MEDIA_TYPE: { meaning: 'the request body type is not supported' },
  DC_ERR_RANGE_NOT_SATISFIABLE: { meaning: 'the requested byte range is outside the file' },
  DC_ERR_LOCKED: { meaning: 'the resource is locked and no valid lock token was given' },
  DC_ERR_TOO_MANY_REQUESTS: { meaning: 'too many failed logins; try again later' },
  DC_ERR_LIMIT_EXCEEDED: { meaning: 'the request would exceed a configured limit (server.limits)' },
  DC_ERR_BUSY: { meaning: 'too many logins are being checked at once; try again shortly' },
  DC_ERR_INSUFFICIENT_STORAGE: { meaning: 'the backend is out of space or quota' },
  DC_ERR_ABORTED: { meaning: 'the operation was aborted (client went away)' },
  DC_ERR_INTERNAL: { meaning: 'an unexpected internal error' },

  // Backend
  DC_ERR_BACKEND: { meaning: 'the backend answered in an unexpected way' },
  DC_ERR_BACKEND_UNAUTHORIZED: { meaning: 'the backend refused the gateway credentials' },
  DC_ERR_BACKEND_UNAVAILABLE: { meaning: 'the backend cannot be reached or timed out' },
  DC_ERR_BACKEND_TIMEOUT: { meaning: 'the backend stopped answering mid-request (timeout)' },
  DC_ERR_STORE_UNAVAILABLE: { meaning: 'the gateway store (sqlite, redis) cannot be reached or timed out' },

  // File format (reading ciphertext)
  DC_ERR_NOT_ENCRYPTED: { meaning: 'the data does not start with the DAVCRYPT magic (in an encrypted mount with plaintext: refuse, a stored file that is plaintext, empty or has a damaged magic)' },
  DC_ERR_BAD_HEADER: { meaning: 'the file header is malformed or too short' },
  DC_ERR_UNSUPPORTED_VERSION: { meaning: 'the file format version is unknown' },
  DC_ERR_TAMPERED: { meaning: 'a segment failed authentication (tampered or corrupt)' },
  DC_ERR_TRUNCATED: { meaning: 'the encrypted file ends early (no final segment)' },
  DC_ERR_TRAILING_DATA: { meaning: 'data follows the final segment' },
  DC_ERR_UNKNOWN_KEY: { meaning: 'the file was encrypted with a key this keyring does not hold' },

  // Keys and keyrings
  DC_ERR_WRONG_PASSWORD: { meaning: 'the password does not open the envelope' },
  DC_ERR_UNWRAP_FAILED: { meaning: 'a key wrap does not open with this identity' },
  DC_ERR_KEYRING_INVALID: { meaning: 'a keyring file is malformed' },
  DC_ERR_NO_ACCESS: { meaning: 'no key of this mount is wrapped to this identity' },
  DC_ERR_KEY_UNAUTHENTICATED: { meaning: 'the file\'s key opened, but no keyring tag of this identity vouches for it' },

  // Configuration and CLI
  DC_ERR_CONFIG: { meaning: 'the configuration is invalid' },
  DC_ERR_USAGE: { meaning: 'a command was called with wrong arguments' },
} as const satisfies Record<string, { meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface DavcryptErrorOptions {
  cause?: unknown;
  /** Structured details safe to log (never secrets): e.g. { segment: 3 } or { path }. */
  details?: Record<string, unknown>;
}

export class DavcryptError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: DavcryptErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DavcryptError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** The one way to make an error: `fail('DC_ERR_NOT_FOUND', 'no such file: /a')`. */
export function davError(code: ErrorCode, message: string, options?: DavcryptErrorOptions): DavcryptError {
  return new DavcryptError(code, message, options);
}

export function isDavcryptError(err: unknown, code?: ErrorCode): err is DavcryptError {
  return err instanceof DavcryptError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a DavcryptError (unknown errors become DC_ERR_INTERNAL). */
export function toDavcryptError(err: unknown): DavcryptError {
  if (err instanceof DavcryptError) return err;
  if (err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR')) {
    return new DavcryptError('DC_ERR_ABORTED', 'operation aborted', { cause: err });
  }
  return new DavcryptError('DC_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
