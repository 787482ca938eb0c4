// User name rules. A name is substituted for {user} in backend roots and URLs,
// so it must never contain a separator or be '.'/'..'. Pure functions, no I/O.
// In config/ because the config file's `users:` lists are checked against the same
// rule and config/ sits below users/ (users/names.ts re-exports it).
import { davError } from '../errors.js';

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** True for names matching ^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$ (and never '.' or '..'). */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name) && name !== '.' && name !== '..';
}

/** Throws DC_ERR_USAGE naming the rule when the name is invalid. */
export function assertValidUserName(name: string): string {
  if (!isValidUserName(name)) {
    throw davError('DC_ERR_USAGE', `invalid user name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
  }
  return name;
}
