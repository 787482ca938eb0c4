// Dropbox OAuth 2 for the Dropbox backend: access tokens from a refresh token (PKCE app,
// app key only, no secret), refreshed shortly before they expire and when the API says
// 401; and the PKCE pieces `davcrypt dropbox login` uses (verifier, authorization URL,
// code exchange). Tokens never appear in messages, logs or error details.
import { createHash, randomBytes } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { davError } from '../errors.js';
import { transportError } from './webdav-http.js';

/** Where the user approves the app (a browser page; never contacted by davcrypt itself). */
export const DROPBOX_AUTHORIZE_URL = 'https://www.dropbox.com/oauth2/authorize';
/** Default base of the RPC API and of the OAuth token endpoint. */
export const DROPBOX_API_BASE = 'https://api.dropboxapi.com';
/** Default base of the content (upload/download) API. */
export const DROPBOX_CONTENT_BASE = 'https://content.dropboxapi.com';

/** Refresh this long before the access token expires (Dropbox hands out 4-hour tokens). */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** Hands out access tokens for API calls. */
export interface DropboxTokenSource {
  /**
   * A usable access token. `rejected` is a token the API just refused with 401: a refreshing
   * source then fetches a new one (once, shared by concurrent callers).
   * Throws DC_ERR_BACKEND_UNAUTHORIZED, DC_ERR_BACKEND_UNAVAILABLE.
   */
  accessToken(signal?: AbortSignal, rejected?: string): Promise<string>;
  /** True when a 401 may be cured by asking accessToken() again. */
  readonly refreshable: boolean;
}

/** A fixed access token (short-lived; for tests and one-off runs). */
export class StaticDropboxToken implements DropboxTokenSource {
  readonly refreshable = false;
  constructor(private readonly token: string) {}
  async accessToken(): Promise<string> {
    return this.token;
  }
}

export interface RefreshingTokenOptions {
  appKey: string;
  refreshToken: string;
  /** Base of the token endpoint (default https://api.dropboxapi.com; tests: the loopback test server). */
  apiBase?: string;
  dispatcher?: Dispatcher;
  /** Clock (tests). */
  now?: () => number;
}

/** Access tokens from an offline refresh token, renewed before expiry and after a 401. */
export class RefreshingDropboxToken implements DropboxTokenSource {
  readonly refreshable = true;
  private current?: { token: string; expiresAt: number };
  private pending?: Promise<string>;
  private readonly now: () => number;
  /** How many times a new access token was fetched (tests, diagnostics). */
  refreshCount = 0;

  constructor(private readonly opts: RefreshingTokenOptions) {
    this.now = opts.now ?? Date.now;
  }

  async accessToken(signal?: AbortSignal, rejected?: string): Promise<string> {
    const c = this.current;
    if (c && c.token !== rejected && c.expiresAt - REFRESH_MARGIN_MS > this.now()) return c.token;
    // One refresh at a time; callers that arrive meanwhile share it.
    this.pending ??= this.refresh(signal).finally(() => { this.pending = undefined; });
    return this.pending;
  }

  private async refresh(signal?: AbortSignal): Promise<string> {
    const answer = await tokenRequest(this.opts.apiBase ?? DROPBOX_API_BASE, {
      grant_type: 'refresh_token', refresh_token: this.opts.refreshToken, client_id: this.opts.appKey,
    }, this.opts.dispatcher, signal);
    this.refreshCount++;
    this.current = { token: answer.access_token, expiresAt: this.now() + (answer.expires_in ?? 14_400) * 1000 };
    return answer.access_token;
  }
}

interface TokenAnswer {
  access_token: string;
  expires_in?: number;
  refresh_token?: string;
  account_id?: string;
}

/** POSTs a form to /oauth2/token. Throws DC_ERR_BACKEND_UNAUTHORIZED (refused), DC_ERR_BACKEND(_UNAVAILABLE). */
async function tokenRequest(
  apiBase: string, form: Record<string, string>, dispatcher?: Dispatcher, signal?: AbortSignal,
): Promise<TokenAnswer> {
  const where = 'dropbox oauth2/token';
  let res: Dispatcher.ResponseData;
  try {
    res = await request(new URL('/oauth2/token', apiBase), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(), signal, ...(dispatcher ? { dispatcher } : {}),
    });
  } catch (err) {
    throw transportError(where, err, signal);
  }
  const text = await res.body.text().catch(() => '');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: handled by the status checks below
  }
  if (res.statusCode === 200 && typeof json.access_token === 'string') return json as unknown as TokenAnswer;
  // The OAuth error fields name the problem (invalid_grant...) and never echo the token.
  const why = [json.error, json.error_description].filter((v) => typeof v === 'string').join(': ') || `status ${res.statusCode}`;
  if (res.statusCode === 400 || res.statusCode === 401) {
    throw davError('DC_ERR_BACKEND_UNAUTHORIZED', `${where}: Dropbox refused the token request (${why}); run \`davcrypt dropbox login\` again`,
      { details: { backendStatus: res.statusCode } });
  }
  const code = res.statusCode >= 500 || res.statusCode === 429 ? 'DC_ERR_BACKEND_UNAVAILABLE' : 'DC_ERR_BACKEND';
  throw davError(code, `${where}: ${why}`, { details: { backendStatus: res.statusCode } });
}

/** A PKCE verifier (RFC 7636: 43-128 unreserved characters) and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier) };
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** The page the user opens to approve the app; Dropbox then shows a code to paste back (no redirect). */
export function dropboxAuthorizationUrl(appKey: string, challenge: string, authorizeUrl = DROPBOX_AUTHORIZE_URL): string {
  const u = new URL(authorizeUrl);
  u.searchParams.set('client_id', appKey);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('code_challenge', challenge);
  u.searchParams.set('code_challenge_method', 'S256');
  // offline: the answer carries a refresh token that outlives the 4-hour access tokens.
  u.searchParams.set('token_access_type', 'offline');
  return u.href;
}

/** Trades the pasted authorization code for tokens. Throws DC_ERR_BACKEND_UNAUTHORIZED (bad/expired code). */
export async function exchangeDropboxCode(opts: {
  appKey: string; code: string; verifier: string; apiBase?: string; dispatcher?: Dispatcher; signal?: AbortSignal;
}): Promise<{ refreshToken: string; accessToken: string; expiresInSeconds?: number; accountId?: string }> {
  const answer = await tokenRequest(opts.apiBase ?? DROPBOX_API_BASE, {
    grant_type: 'authorization_code', code: opts.code.trim(), code_verifier: opts.verifier, client_id: opts.appKey,
  }, opts.dispatcher, opts.signal);
  if (!answer.refresh_token) {
    throw davError('DC_ERR_BACKEND', 'dropbox oauth2/token: no refresh token in the answer (was token_access_type=offline dropped?)');
  }
  return { refreshToken: answer.refresh_token, accessToken: answer.access_token, expiresInSeconds: answer.expires_in, accountId: answer.account_id };
}

/**
 * Reads a token file (the token on its first line). Throws DC_ERR_CONFIG when it is missing, empty,
 * or readable by group/others (it grants full access to the Dropbox account).
 */
export async function readDropboxTokenFile(path: string): Promise<string> {
  const { readFile, stat } = await import('node:fs/promises');
  let text: string;
  try {
    const st = await stat(path);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw davError('DC_ERR_CONFIG', `Dropbox token file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'DC_ERR_CONFIG') throw err;
    throw davError('DC_ERR_CONFIG', `cannot read Dropbox token file ${path}; run \`davcrypt dropbox login\` to create it`, { cause: err });
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (!token) throw davError('DC_ERR_CONFIG', `Dropbox token file ${path} is empty; run \`davcrypt dropbox login\``);
  return token;
}

/** Writes a token file with mode 0600 (created so, then chmod-ed in case it existed). */
export async function writeDropboxTokenFile(path: string, token: string): Promise<void> {
  const { chmod, mkdir, writeFile } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, token + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
}
