// Public face of the backends folder: the Backend interface and its implementations.
// Other folders import only from here.
export type * from './types.js';
export { LocalBackend, createLocalBackend, contentTypeFor, removeStaleTempFiles, type LocalBackendOptions } from './local.js';
export * from './layout.js';
export { WebdavBackend, createWebdavBackend, etagsMatchWeakly, type WebdavBackendOptions } from './webdav.js';
export type { WebdavTimeouts } from './webdav-http.js';
export { DEFAULT_BACKEND_TIMEOUTS } from './webdav-http.js';
export type { UploadMode, UploadProbeLogger, UploadProbeResult } from './webdav-upload-probe.js';
export { DropboxBackend, createDropboxBackend, type DropboxBackendOptions, type CreateDropboxBackendOptions } from './dropbox.js';
export { DropboxApi, type DropboxApiOptions } from './dropbox-api.js';
export {
  RefreshingDropboxToken, StaticDropboxToken, dropboxAuthorizationUrl, exchangeDropboxCode, pkcePair, readDropboxTokenFile,
  writeDropboxTokenFile, DROPBOX_API_BASE, DROPBOX_AUTHORIZE_URL, type DropboxTokenSource,
} from './dropbox-auth.js';
export { normalizePath, parentPath, baseName, joinPath, isSameOrInside, foldName } from './paths.js';
export * from './encrypting.js';
export { LruEncryptionMetaCache, type EncryptionMeta, type EncryptionMetaCache } from './encryption-meta.js';
export { ObservedBackend, observeBackend, type ObservedLabels } from './observed.js';
export { LimitedBackend, RequestSlots } from './limited.js';
