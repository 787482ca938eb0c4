// Users: accounts, authentication (login cache, throttling), mount resolution.
export { AccountService } from './accounts.js';
export type { AccountServiceOptions, AddResult, ExistingIdentity } from './accounts.js';
export { GatewayAuthenticator } from './authenticator.js';
export type { GatewayAuthenticatorOptions, LoginStats } from './authenticator.js';
export { LoginCache } from './login-cache.js';
export { MountBackends, mountAllows } from './mount-backends.js';
export { assertValidUserName, isValidUserName, userIdentity } from './names.js';
export { UserRecords } from './records.js';
export type { UserRecord } from './records.js';
export { createUserServices } from './services.js';
export type { UserServices } from './services.js';
export { DEFAULT_THROTTLE, LoginThrottle } from './throttle.js';
export type * from './types.js';
export { ensureInitialAdmin, INITIAL_ADMIN, INITIAL_ADMIN_FILE } from './initial-admin.js';
export type { InitialAdminOptions, InitialAdminOutcome } from './initial-admin.js';
