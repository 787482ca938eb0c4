// How the server answers each error code: the code -> HTTP status table, and a per-error
// override for the few requests whose answer differs from the code's usual one (a path
// too long is DC_ERR_BAD_REQUEST, answered 414). Only server/ speaks HTTP; src/errors.ts
// says what the codes mean. docs/errors.md lists both, checked by test/unit/errors.test.ts.
import type { DavcryptError, ErrorCode } from '../errors.js';

/** The HTTP status each code answers with, unless the error carries an override (withHttpStatus). */
export const HTTP_STATUS = {
  // Request / resource semantics
  DC_ERR_BAD_REQUEST: 400,
  DC_ERR_UNAUTHORIZED: 401,
  DC_ERR_FORBIDDEN: 403,
  DC_ERR_NOT_FOUND: 404,
  DC_ERR_METHOD_NOT_ALLOWED: 405,
  DC_ERR_EXISTS: 405,
  DC_ERR_CONFLICT: 409,
  DC_ERR_NOT_A_COLLECTION: 409,
  DC_ERR_IS_A_COLLECTION: 409,
  DC_ERR_NAME_CONFLICT: 409,
  DC_ERR_REQUEST_TIMEOUT: 408,
  DC_ERR_LENGTH_REQUIRED: 411,
  DC_ERR_PRECONDITION_FAILED: 412,
  DC_ERR_PAYLOAD_TOO_LARGE: 413,
  DC_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  DC_ERR_RANGE_NOT_SATISFIABLE: 416,
  DC_ERR_LOCKED: 423,
  DC_ERR_TOO_MANY_REQUESTS: 429,
  DC_ERR_LIMIT_EXCEEDED: 403,
  DC_ERR_BUSY: 503,
  DC_ERR_INSUFFICIENT_STORAGE: 507,
  DC_ERR_ABORTED: 499,
  DC_ERR_INTERNAL: 500,

  // Backend
  DC_ERR_BACKEND: 502,
  DC_ERR_BACKEND_UNAUTHORIZED: 502,
  DC_ERR_BACKEND_UNAVAILABLE: 503,
  DC_ERR_BACKEND_TIMEOUT: 504,
  DC_ERR_STORE_UNAVAILABLE: 503,

  // File format (reading ciphertext)
  DC_ERR_NOT_ENCRYPTED: 502,
  DC_ERR_BAD_HEADER: 502,
  DC_ERR_UNSUPPORTED_VERSION: 502,
  DC_ERR_TAMPERED: 502,
  DC_ERR_TRUNCATED: 502,
  DC_ERR_TRAILING_DATA: 502,
  DC_ERR_UNKNOWN_KEY: 502,

  // Keys and keyrings
  DC_ERR_WRONG_PASSWORD: 401,
  DC_ERR_UNWRAP_FAILED: 500,
  DC_ERR_KEY_UNAUTHENTICATED: 502,
  DC_ERR_KEYRING_INVALID: 500,
  DC_ERR_NO_ACCESS: 403,

  // Configuration and CLI
  DC_ERR_CONFIG: 500,
  DC_ERR_USAGE: 400,
} as const satisfies Record<ErrorCode, number>;

const overrides = new WeakMap<DavcryptError, number>();

/** Marks `error` to be answered with `status` instead of its code's usual one; returns it (throw withHttpStatus(davError(…), 414)). */
export function withHttpStatus(error: DavcryptError, status: number): DavcryptError {
  overrides.set(error, status);
  return error;
}

/** The status `error` is answered with: its override, else its code's status. */
export function httpStatusOf(error: DavcryptError): number {
  return overrides.get(error) ?? HTTP_STATUS[error.code];
}
