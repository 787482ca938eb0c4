// A Dropbox API v2 test server on 127.0.0.1, written from the public API specification
// (dropbox-api-spec files.stone / auth.stone and the HTTP documentation): RPC routes on
// /2/... with JSON bodies, content routes with Dropbox-API-Arg / Dropbox-API-Result headers,
// errors as 409 `{error_summary, error: {'.tag': ...}}` (400 plain text for malformed
// calls, 401 for bad tokens, 429 + Retry-After for rate limits), list_folder paging with
// cursors that can be reset, upload sessions with offsets, content_hash checks, WriteMode
// add/overwrite/update with strict_conflict, silent creation of missing parents, names
// compared case-insensitively and across Unicode forms, and the OAuth 2 token endpoint
// (authorization_code with PKCE S256, refresh_token). State is in memory.
//
//   const dbx = await startDropboxServer();
//   new DropboxBackend({ root: '/davcrypt', api: { tokens: new StaticDropboxToken(dbx.accessToken), apiBase: dbx.url, contentBase: dbx.url } });
//   dbx.rateLimit(2, 1);          // the next two requests answer 429, Retry-After: 1
//   await dbx.close();
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const BLOCK = 4 * 1024 * 1024;
const MAX_PAYLOAD = 150 * 1024 * 1024;

interface FileNode { kind: 'file'; name: string; id: string; data: Buffer; hash: string; rev: string; serverModified: Date; clientModified: Date }
interface FolderNode { kind: 'folder'; name: string; id: string; children: Map<string, Node> }
type Node = FileNode | FolderNode;

function fold(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

export function contentHash(data: Buffer): string {
  const overall = createHash('sha256');
  for (let i = 0; i < data.length; i += BLOCK) overall.update(createHash('sha256').update(data.subarray(i, i + BLOCK)).digest());
  return overall.digest('hex');
}

class ApiError extends Error {
  constructor(readonly status: number, readonly body: unknown, readonly headers: Record<string, string> = {}) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

/** A union value as Stone serializes it: ['path', 'not_found'] is {'.tag': 'path', path: {'.tag': 'not_found'}};
 *  `extra` (struct fields of the innermost variant) sits beside its tag. */
function nest(tags: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  let error: Record<string, unknown> = { '.tag': tags[tags.length - 1]!, ...extra };
  for (let i = tags.length - 2; i >= 0; i--) error = { '.tag': tags[i]!, [tags[i]!]: error };
  return error;
}
/** 409 with an endpoint error (see nest). */
function endpointError(tags: string[], extra: Record<string, unknown> = {}): ApiError {
  return new ApiError(409, { error_summary: tags.join('/') + '/..', error: nest(tags, extra) });
}
/** Builds the endpoint error for a WriteError (given as its tag path) of one route. */
type WriteErrorOf = (writeTags: string[]) => ApiError;
const writeErrorUnder = (prefix: string): WriteErrorOf => (tags) => endpointError([prefix, ...tags]);
/** files/upload: UploadError.path is the struct UploadWriteFailed, flattened beside its tag. */
const uploadWriteFailed: WriteErrorOf = (tags) => new ApiError(409, {
  error_summary: `path/${tags.join('/')}/..`,
  error: { '.tag': 'path', reason: nest(tags), upload_session_id: `pid_upload_session:${randomBytes(9).toString('base64url')}` },
});
const badInput = (why: string) => new ApiError(400, `Error in call to API function: ${why}`);

export interface DropboxServerOptions {
  /** Entries per list_folder page (default 2000; small values exercise paging). */
  pageSize?: number;
  /** Lifetime of issued access tokens in seconds (default 14400). */
  tokenLifetimeSeconds?: number;
}

export interface DropboxTestServer {
  /** 'http://127.0.0.1:PORT' — both the API and the content base. */
  url: string;
  /** An access token valid until revoked (for backends without a refresh token). */
  accessToken: string;
  appKey: string;
  /** Counts per route, chunk sizes seen by upload sessions, 429s served. */
  stats: { routes: Record<string, number>; appendBytes: number[]; rateLimited: number; tokenRequests: number };
  /** The next `count` API requests answer 429 with Retry-After (seconds) and this reason. */
  rateLimit(count: number, retryAfterSeconds: number, reason?: 'too_many_requests' | 'too_many_write_operations'): void;
  /** The next `count` requests to `route` answer `status` (e.g. 500, 503). */
  failNext(route: string, status: number, count?: number): void;
  /** Invalidates every list_folder cursor handed out so far (list_folder/continue answers `reset`). */
  resetCursors(): void;
  /** Expires every access token issued by the token endpoint so far (API calls answer 401 expired_access_token). */
  expireAccessTokens(): void;
  /** Issues an authorization code, as the approval page would after the user clicks Allow. */
  approve(authorizationUrl: string): string;
  /** Refresh token handed out with the last code exchange. */
  readonly refreshTokens: string[];
  /** The file body stored at a Dropbox path (undefined when missing). */
  fileAt(path: string): Buffer | undefined;
  /** Corrupts a stored body without changing its metadata (a lying storage). */
  corrupt(path: string): void;
  /** Stored names in a folder, hidden ones included (undefined when no such folder). */
  namesIn(path: string): string[] | undefined;
  /** Cuts every open connection (a download in flight breaks off). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startDropboxServer(options: DropboxServerOptions = {}): Promise<DropboxTestServer> {
  const pageSize = options.pageSize ?? 2000;
  const lifetime = options.tokenLifetimeSeconds ?? 14_400;
  let seq = 0;
  const newId = () => `id:${(++seq).toString(36)}${randomBytes(6).toString('base64url')}`;
  const newRev = () => `${(++seq).toString(16).padStart(9, '0')}${randomBytes(3).toString('hex')}`;
  const root: FolderNode = { kind: 'folder', name: '', id: newId(), children: new Map() };
  const appKey = 'testappkey';
  const tokens = new Map<string, number>(); // access token -> expiry (ms)
  const permanent = 'sl.test-' + randomBytes(16).toString('hex');
  tokens.set(permanent, Number.MAX_SAFE_INTEGER);
  const refreshTokens: string[] = [];
  const codes = new Map<string, { challenge: string; clientId: string }>();
  const sessions = new Map<string, { parts: Buffer[]; offset: number; closed: boolean }>();
  let cursorGeneration = 0;
  let limited: { count: number; retryAfter: number; reason: string } | undefined;
  const failures = new Map<string, { status: number; count: number }>();
  const stats = { routes: {} as Record<string, number>, appendBytes: [] as number[], rateLimited: 0, tokenRequests: 0 };

  // --- the tree -----------------------------------------------------------------------------
  const split = (path: string): string[] => {
    if (path === '') return [];
    if (!path.startsWith('/')) throw endpointError(['path', 'malformed_path']);
    const parts = path.split('/').slice(1);
    if (parts.some((p) => p === '' || p === '.' || p === '..')) throw endpointError(['path', 'malformed_path']);
    return parts;
  };
  /** Resolves a path: the node, or why not (not_found / not_folder when a file sits on the way). */
  const resolve = (path: string): { node?: Node; blockedByFile?: boolean } => {
    let node: Node = root;
    for (const part of split(path)) {
      if (node.kind !== 'folder') return { blockedByFile: true };
      const next = node.children.get(fold(part));
      if (!next) return {};
      node = next;
    }
    return { node };
  };
  const lookupOrThrow = (path: string, prefix: string[]): Node => {
    const r = resolve(path);
    if (r.blockedByFile) throw endpointError([...prefix, 'not_folder']);
    if (!r.node) throw endpointError([...prefix, 'not_found']);
    return r.node;
  };
  /** Files Dropbox keeps out of accounts (its "ignored files"; rclone refuses them before upload for the same reason). */
  const ignored = /^(desktop\.ini|thumbs\.db|\.ds_store|icon\r|\.dropbox|\.dropbox\.attr)$/i;
  /** The folder that will hold `path`, creating missing parents as Dropbox does. */
  const parentFor = (path: string, writeError: WriteErrorOf): { folder: FolderNode; name: string } => {
    const parts = split(path);
    if (parts.length === 0) throw writeError(['disallowed_name']);
    let folder = root;
    for (const part of parts.slice(0, -1)) {
      const next = folder.children.get(fold(part));
      if (!next) {
        const created: FolderNode = { kind: 'folder', name: part, id: newId(), children: new Map() };
        folder.children.set(fold(part), created);
        folder = created;
      } else if (next.kind === 'file') {
        throw writeError(['conflict', 'file_ancestor']);
      } else {
        folder = next;
      }
    }
    const name = parts[parts.length - 1]!;
    if (ignored.test(name)) throw writeError(['disallowed_name']);
    return { folder, name };
  };
  const displayPath = (path: string): string => path; // the caller's spelling, as Dropbox mostly returns
  const metadata = (node: Node, path: string, tagged = true): Record<string, unknown> => {
    const common = { name: node.name, path_lower: fold(path), path_display: displayPath(path), id: node.id };
    if (node.kind === 'folder') return { ...(tagged ? { '.tag': 'folder' } : {}), ...common };
    return {
      ...(tagged ? { '.tag': 'file' } : {}), ...common, client_modified: iso(node.clientModified), server_modified: iso(node.serverModified),
      rev: node.rev, size: node.data.length, is_downloadable: true, content_hash: node.hash,
    };
  };
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

  const commitFile = (commit: Record<string, unknown>, data: Buffer, writeError: WriteErrorOf): Record<string, unknown> => {
    const path = String(commit.path ?? '');
    const mode = (commit.mode ?? { '.tag': 'add' }) as { '.tag': string; update?: string } | string;
    const modeTag = typeof mode === 'string' ? mode : mode['.tag'];
    const strict = commit.strict_conflict === true;
    const { folder, name } = parentFor(path, writeError);
    const existing = folder.children.get(fold(name));
    if (existing?.kind === 'folder') throw writeError(['conflict', 'folder']);
    if (existing) {
      const identical = existing.data.equals(data);
      if (modeTag === 'add' && (strict || !identical)) throw writeError(['conflict', 'file']);
      if (modeTag === 'update') {
        const rev = typeof mode === 'string' ? undefined : mode.update;
        if (rev !== existing.rev && (strict || !identical)) throw writeError(['conflict', 'file']);
      }
      // WriteMode (c): identical contents write nothing and keep the rev.
      if (identical) return metadata(existing, path, false);
      existing.data = data;
      existing.hash = contentHash(data);
      existing.rev = newRev();
      existing.serverModified = new Date();
      existing.clientModified = commit.client_modified ? new Date(String(commit.client_modified)) : existing.serverModified;
      return metadata(existing, path, false);
    }
    if (modeTag === 'update' && strict) throw writeError(['conflict', 'file']);
    const now = new Date();
    const node: FileNode = {
      kind: 'file', name, id: newId(), data, hash: contentHash(data), rev: newRev(), serverModified: now,
      clientModified: commit.client_modified ? new Date(String(commit.client_modified)) : now,
    };
    folder.children.set(fold(name), node);
    return metadata(node, path, false);
  };

  const checkHash = (arg: Record<string, unknown>, data: Buffer) => {
    if (arg.content_hash !== undefined && arg.content_hash !== contentHash(data)) throw endpointError(['content_hash_mismatch']);
  };
  const cloneNode = (node: Node, name: string): Node => node.kind === 'file'
    ? { ...node, name, id: newId(), data: Buffer.from(node.data) }
    : { kind: 'folder', name, id: newId(), children: new Map([...node.children].map(([k, v]) => [k, cloneNode(v, v.name)])) };
  const isInside = (outer: string, inner: string) => fold(inner).startsWith(fold(outer) + '/');

  const relocate = (arg: Record<string, unknown>, copy: boolean): Record<string, unknown> => {
    const from = String(arg.from_path ?? '');
    const to = String(arg.to_path ?? '');
    const node = lookupOrThrow(from, ['from_lookup']);
    if (from === '') throw endpointError(['from_write', 'disallowed_name']);
    if (isInside(from, to)) throw endpointError([copy ? 'duplicated_or_nested_paths' : 'cant_move_folder_into_itself']);
    const { folder, name } = parentFor(to, writeErrorUnder('to'));
    const existing = folder.children.get(fold(name));
    // move_v2: "we do not currently support case-only renaming" — the target is the source.
    if (existing) throw endpointError(['to', 'conflict', existing.kind]);
    const placed = copy ? cloneNode(node, name) : node;
    if (!copy) {
      const src = resolve(from.slice(0, from.lastIndexOf('/'))).node as FolderNode;
      src.children.delete(fold(node.name));
      node.name = name;
    }
    folder.children.set(fold(name), placed);
    return { metadata: metadata(placed, to) };
  };

  // --- routes -------------------------------------------------------------------------------
  const rpc: Record<string, (arg: Record<string, unknown>) => unknown> = {
    'files/get_metadata': (arg) => {
      const path = String(arg.path ?? '');
      if (path === '') throw badInput('request body: path: The root folder is unsupported.');
      return metadata(lookupOrThrow(path, ['path']), path);
    },
    'files/list_folder': (arg) => {
      const path = String(arg.path ?? '');
      const node = lookupOrThrow(path, ['path']);
      if (node.kind !== 'folder') throw endpointError(['path', 'not_folder']);
      const limit = Math.min(pageSize, typeof arg.limit === 'number' ? arg.limit : 2000);
      return page(path, node, 0, limit);
    },
    'files/list_folder/continue': (arg) => {
      let c: { path: string; offset: number; limit: number; gen: number };
      try {
        c = JSON.parse(Buffer.from(String(arg.cursor ?? ''), 'base64url').toString()) as typeof c;
      } catch {
        throw badInput('cursor: malformed');
      }
      if (c.gen !== cursorGeneration) throw endpointError(['reset']);
      const node = resolve(c.path).node;
      if (!node || node.kind !== 'folder') throw endpointError(['path', 'not_found']);
      return page(c.path, node, c.offset, c.limit);
    },
    'files/create_folder_v2': (arg) => {
      const path = String(arg.path ?? '');
      const { folder, name } = parentFor(path, writeErrorUnder('path'));
      const existing = folder.children.get(fold(name));
      if (existing) throw endpointError(['path', 'conflict', existing.kind]);
      const node: FolderNode = { kind: 'folder', name, id: newId(), children: new Map() };
      folder.children.set(fold(name), node);
      return { metadata: metadata(node, path, false) };
    },
    'files/delete_v2': (arg) => {
      const path = String(arg.path ?? '');
      if (path === '') throw endpointError(['path_write', 'disallowed_name']);
      const node = lookupOrThrow(path, ['path_lookup']);
      const parent = resolve(path.slice(0, path.lastIndexOf('/'))).node as FolderNode;
      parent.children.delete(fold(node.name));
      return { metadata: metadata(node, path) };
    },
    'files/move_v2': (arg) => relocate(arg, false),
    'files/copy_v2': (arg) => relocate(arg, true),
    'users/get_space_usage': () => ({ used: usedBytes(root), allocation: { '.tag': 'individual', allocated: 2 * 1024 ** 3 } }),
  };
  const usedBytes = (n: Node): number => n.kind === 'file' ? n.data.length : [...n.children.values()].reduce((a, c) => a + usedBytes(c), 0);
  const page = (path: string, node: FolderNode, offset: number, limit: number) => {
    const all = [...node.children.values()];
    const entries = all.slice(offset, offset + limit).map((c) => metadata(c, `${path}/${c.name}`));
    const next = offset + entries.length;
    const cursor = Buffer.from(JSON.stringify({ path, offset: next, limit, gen: cursorGeneration })).toString('base64url');
    return { entries, cursor, has_more: next < all.length };
  };

  const upload: Record<string, (arg: Record<string, unknown>, data: Buffer) => unknown> = {
    'files/upload': (arg, data) => {
      checkHash(arg, data);
      return commitFile(arg, data, uploadWriteFailed);
    },
    'upload_session/start': (arg, data) => {
      checkHash(arg, data);
      const id = `pid_upload_session:${randomBytes(12).toString('base64url')}`;
      sessions.set(id, { parts: [data], offset: data.length, closed: arg.close === true });
      return { session_id: id };
    },
    'upload_session/append_v2': (arg, data) => {
      const s = session(arg, ['incorrect_offset']);
      if (s.closed) throw endpointError(['closed']);
      checkHash(arg, data);
      stats.appendBytes.push(data.length);
      s.parts.push(data);
      s.offset += data.length;
      if (arg.close === true) s.closed = true;
      return null;
    },
    'upload_session/finish': (arg, data) => {
      const s = session(arg, ['lookup_failed', 'incorrect_offset']);
      checkHash(arg, data);
      const body = Buffer.concat([...s.parts, data]);
      const result = commitFile((arg.commit ?? {}) as Record<string, unknown>, body, writeErrorUnder('path'));
      sessions.delete(String((arg.cursor as Record<string, unknown>).session_id));
      return result;
    },
  };
  const session = (arg: Record<string, unknown>, offsetTags: string[]) => {
    const cursor = (arg.cursor ?? {}) as { session_id?: string; offset?: number };
    const s = sessions.get(String(cursor.session_id));
    if (!s) throw endpointError([...offsetTags.slice(0, -1), 'not_found']);
    if (cursor.offset !== s.offset) throw endpointError(offsetTags, { correct_offset: s.offset });
    return s;
  };

  // --- HTTP ---------------------------------------------------------------------------------
  const readBody = async (req: IncomingMessage): Promise<Buffer> => {
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > MAX_PAYLOAD + 1024) throw endpointError(['payload_too_large']);
      parts.push(chunk as Buffer);
    }
    return Buffer.concat(parts);
  };
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers });
    res.end(text);
  };
  const authorize = (req: IncomingMessage) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const expiry = m ? tokens.get(m[1]!) : undefined;
    if (expiry === undefined) throw new ApiError(401, { error_summary: 'invalid_access_token/..', error: { '.tag': 'invalid_access_token' } });
    if (expiry <= Date.now()) throw new ApiError(401, { error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } });
  };
  const parseArgHeader = (req: IncomingMessage): Record<string, unknown> => {
    const raw = req.headers['dropbox-api-arg'];
    if (typeof raw !== 'string') throw badInput('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".');
    if (/[^\x20-\x7e]/.test(raw)) throw badInput('Dropbox-API-Arg: header must be ASCII (escape other characters as \\u)');
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw badInput('Dropbox-API-Arg: could not decode input as JSON');
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const route = (req.url ?? '').replace(/^\/2\//, '').replace(/\?.*$/, '');
    stats.routes[route] = (stats.routes[route] ?? 0) + 1;
    if (req.url === '/oauth2/token') return void await oauthToken(req, res);
    if (req.method !== 'POST') throw badInput('use POST');
    if (limited && limited.count > 0) {
      limited.count--;
      stats.rateLimited++;
      await readBody(req).catch(() => undefined);
      throw new ApiError(429, { error_summary: `${limited.reason}/..`, error: { reason: { '.tag': limited.reason }, retry_after: limited.retryAfter } },
        { 'retry-after': String(limited.retryAfter) });
    }
    const failure = failures.get(route);
    if (failure && failure.count > 0) {
      failure.count--;
      await readBody(req).catch(() => undefined);
      throw new ApiError(failure.status, 'Internal server error (injected by the test)');
    }
    authorize(req);
    if (route in rpc) {
      const body = await readBody(req);
      let arg: Record<string, unknown> = {};
      if (body.length > 0) {
        if (!/^application\/json/.test(req.headers['content-type'] ?? '')) throw badInput('Bad HTTP "Content-Type" header; expecting "application/json"');
        try {
          arg = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          throw badInput('could not decode input as JSON');
        }
      }
      return send(res, 200, rpc[route]!(arg ?? {}));
    }
    if (route in upload) {
      const arg = parseArgHeader(req);
      if (!/^(application\/octet-stream|text\/plain)/.test(req.headers['content-type'] ?? '')) {
        throw badInput('Bad HTTP "Content-Type" header; expecting "application/octet-stream"');
      }
      const data = await readBody(req);
      if (data.length > MAX_PAYLOAD) throw endpointError(['payload_too_large']);
      return send(res, 200, upload[route]!(arg, data));
    }
    if (route === 'files/download') {
      const arg = parseArgHeader(req);
      await readBody(req);
      const path = String(arg.path ?? '');
      const node = lookupOrThrow(path, ['path']);
      if (node.kind !== 'file') throw endpointError(['path', 'not_file']);
      const headers: Record<string, string> = {
        'dropbox-api-result': JSON.stringify(metadata(node, path, false)).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')),
        'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag: `W/"${node.rev}"`,
      };
      const size = node.data.length;
      const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (m && (m[1] !== '' || m[2] !== '')) {
        let start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
        let end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
        if (start >= size) {
          res.writeHead(416, { 'content-range': `bytes */${size}` });
          return void res.end();
        }
        if (m[1] === '') { start = Math.max(0, start); end = size - 1; }
        res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) });
        return void res.end(node.data.subarray(start, end + 1));
      }
      res.writeHead(200, { ...headers, 'content-length': String(size) });
      return void res.end(node.data);
    }
    throw badInput(`Unknown API function: "${route}"`);
  };

  const oauthToken = async (req: IncomingMessage, res: ServerResponse) => {
    stats.tokenRequests++;
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    const fail = (error: string, description: string) => send(res, 400, { error, error_description: description });
    if (form.get('client_id') !== appKey) return fail('invalid_client', 'Invalid client_id');
    const issue = () => {
      const token = 'sl.' + randomBytes(24).toString('base64url');
      tokens.set(token, Date.now() + lifetime * 1000);
      return token;
    };
    if (form.get('grant_type') === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!code) return fail('invalid_grant', 'code doesn\'t exist or has expired');
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) return fail('invalid_grant', 'invalid code verifier');
      const refresh = 'rt-' + randomBytes(24).toString('base64url');
      refreshTokens.push(refresh);
      return send(res, 200, {
        access_token: issue(), token_type: 'bearer', expires_in: lifetime, refresh_token: refresh,
        scope: 'files.content.read files.content.write files.metadata.read', uid: '12345', account_id: 'dbid:test-account',
      });
    }
    if (form.get('grant_type') === 'refresh_token') {
      if (!refreshTokens.includes(form.get('refresh_token') ?? '')) return fail('invalid_grant', 'refresh token is malformed');
      return send(res, 200, { access_token: issue(), token_type: 'bearer', expires_in: lifetime });
    }
    return fail('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof ApiError) return send(res, err.status, err.body, err.headers);
      send(res, 500, String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    accessToken: permanent,
    appKey,
    stats,
    refreshTokens,
    rateLimit(count, retryAfterSeconds, reason = 'too_many_requests') {
      limited = { count, retryAfter: retryAfterSeconds, reason };
    },
    failNext(route, status, count = 1) {
      failures.set(route, { status, count });
    },
    resetCursors() {
      cursorGeneration++;
    },
    expireAccessTokens() {
      for (const t of tokens.keys()) if (t !== permanent) tokens.set(t, 0);
    },
    approve(authorizationUrl) {
      const u = new URL(authorizationUrl);
      if (u.searchParams.get('code_challenge_method') !== 'S256') throw new Error('approve: PKCE S256 expected');
      if (u.searchParams.get('token_access_type') !== 'offline') throw new Error('approve: offline access expected');
      const code = 'code-' + randomBytes(12).toString('base64url');
      codes.set(code, { challenge: u.searchParams.get('code_challenge') ?? '', clientId: u.searchParams.get('client_id') ?? '' });
      return code;
    },
    fileAt(path) {
      const node = resolve(path).node;
      return node?.kind === 'file' ? node.data : undefined;
    },
    corrupt(path) {
      const node = resolve(path).node;
      if (node?.kind !== 'file' || node.data.length === 0) throw new Error(`corrupt: no non-empty file at ${path}`);
      // The body changes, its recorded content_hash does not: a store that damaged the bytes.
      node.data = Buffer.from(node.data);
      node.data[0] = node.data[0]! ^ 0xff;
    },
    namesIn(path) {
      const node = resolve(path).node;
      return node?.kind === 'folder' ? [...node.children.values()].map((c) => c.name).sort() : undefined;
    },
    dropConnections() {
      server.closeAllConnections();
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
