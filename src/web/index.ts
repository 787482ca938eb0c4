// The browser front: a web page for files (session cookies, CSRF) and share links.
// Public API of src/web.
export { createWebFront, CSRF_HEADER, type SessionAuthenticator, type WebFrontOptions, type WebRoute } from './front.js';
export { WEB_BASE, PAGE_CSP } from './page.js';
export { SHARE_BASE, type ShareAuthenticator } from './shares.js';
