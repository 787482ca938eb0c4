// Parses an HTTP Basic Authorization header ourselves (webdav-server's parser
// rejects passwords with '+', '/', ':'). Returns credentials only; never logs them.
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface BasicCredentials {
  username: string;
  password: string;
}

/**
 * Credentials from `Authorization: Basic <b64>`, or undefined when absent or not Basic.
 * The password may contain ':' (split at the first one). UTF-8 is tried first, then latin1
 * (some clients encode non-ASCII that way). A Windows `DOMAIN\user` name becomes `user`.
 */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const m = /^\s*Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const bytes = Buffer.from(m[1]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = bytes.toString('latin1');
  }
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  let username = text.slice(0, colon);
  const backslash = username.lastIndexOf('\\');
  if (backslash >= 0) username = username.slice(backslash + 1);
  return { username, password: text.slice(colon + 1) };
}
