// Headers that keep a browser from running what the gateway serves. A stored file
// is the user's (or the backend's) data, never part of our web origin: a script in
// an uploaded or backend-planted .html/.svg would otherwise run with the viewer's
// Basic credentials and read every decrypted file. So every GET/HEAD answer says
// nosniff and a script-free sandboxing CSP, and types a browser would execute are
// served as downloads. WebDAV clients ignore all three. Pure functions, no I/O.

/** No script, no plugins, no same-origin access: even an HTML file rendered inline is inert. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self'; sandbox";

/**
 * Types a browser shows inline without running code. Everything else (HTML, XHTML, SVG,
 * XML, JavaScript, unknown and malformed types) is sent with `Content-Disposition: attachment`.
 */
const INLINE_TYPES = new Set([
  'text/plain', 'text/csv', 'text/markdown', 'application/json', 'application/pdf',
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp',
  'audio/mpeg', 'audio/ogg', 'audio/wav', 'audio/flac', 'video/mp4', 'video/webm', 'video/ogg', 'video/quicktime',
]);

const TOKEN = "[a-z0-9!#$&^_.+-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN}/${TOKEN})\\s*(?:;(.*))?$`);

/**
 * The Content-Type to send: the stored type's essence, lower-cased, with at most a charset
 * parameter; `application/octet-stream` when absent or malformed (the backend is untrusted,
 * so its type is only ever a hint).
 */
export function safeContentType(stored: string | undefined): string {
  const m = MEDIA_TYPE.exec((stored ?? '').trim().toLowerCase());
  if (!m) return 'application/octet-stream';
  const charset = /(?:^|;)\s*charset\s*=\s*"?([a-z0-9_-]{1,40})"?\s*(?:;|$)/.exec(m[2] ?? '');
  return charset ? `${m[1]}; charset=${charset[1]}` : m[1]!;
}

/** True when a browser may show this (already normalized) type inline. */
export function isInlineSafe(contentType: string): boolean {
  return INLINE_TYPES.has(contentType.split(';')[0]!);
}

/** `attachment; filename*=UTF-8''…` (RFC 6266 / RFC 8187), naming the file as the client saw it. */
export function attachmentDisposition(name: string): string {
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return name === '' ? 'attachment' : `attachment; filename*=UTF-8''${encoded}`;
}

/**
 * Headers for a stored file's GET/HEAD answer: Content-Type (normalized), nosniff, the CSP,
 * and Content-Disposition: attachment unless the type is on the inline list.
 */
export function fileSafetyHeaders(storedType: string | undefined, name: string): Record<string, string> {
  const type = safeContentType(storedType);
  const headers: Record<string, string> = {
    'Content-Type': type,
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  };
  if (!isInlineSafe(type)) headers['Content-Disposition'] = attachmentDisposition(name);
  return headers;
}

/** Headers for pages the gateway writes itself (the folder index): nosniff and the same CSP. */
export const PAGE_SAFETY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
});
