// User names: the syntax rule (config/user-names.ts, shared with config validation)
// and the keyring identity a user's name maps to. Pure functions, no I/O.
export { assertValidUserName, isValidUserName } from '../config/index.js';

/** The keyring identity name of a user. */
export function userIdentity(name: string): string {
  return `user:${name}`;
}
