// Starts Apache httpd (Debian apache2, mod_dav + mod_dav_fs, Basic auth) as a child
// process on a random 127.0.0.1 port, serving a given folder, with its config, logs
// and lock DB in its own temp folder. Used by backend, gateway, litmus and bench suites.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { freePort, stopChild, tailBuffer, waitForHttp } from './server-process.js';

const APACHE_BIN = '/usr/sbin/apache2';
const MODULE_DIR = '/usr/lib/apache2/modules';
const MODULES = [
  ['mpm_event_module', 'mod_mpm_event.so'], ['authz_core_module', 'mod_authz_core.so'],
  ['authn_core_module', 'mod_authn_core.so'], ['authn_file_module', 'mod_authn_file.so'],
  ['auth_basic_module', 'mod_auth_basic.so'], ['authz_user_module', 'mod_authz_user.so'],
  ['alias_module', 'mod_alias.so'], ['mime_module', 'mod_mime.so'],
  ['dav_module', 'mod_dav.so'], ['dav_fs_module', 'mod_dav_fs.so'],
] as const;

export interface ApacheOptions {
  /** Folder to serve (created if missing; handed to www-data when running as root). */
  root: string;
  /** Basic-auth user; without it the share is open. */
  user?: string;
  password?: string;
  /** URL path the share lives under, e.g. '/remote.php/dav/files/alice/' (default '/'). */
  prefix?: string;
}

export interface ApacheServer {
  /** Base URL of the share, ending in '/', without credentials. */
  url: string;
  port: number;
  /** Folder holding httpd.conf, error.log, access.log. */
  serverDir: string;
  /** The parent httpd process (its children serve requests). */
  pid: number;
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Undefined when Apache with mod_dav can run here, else the reason it cannot. */
export function apacheAvailable(): string | undefined {
  if (!existsSync(APACHE_BIN)) return `${APACHE_BIN} not found (apt-get install apache2)`;
  for (const [, file] of MODULES) if (!existsSync(join(MODULE_DIR, file))) return `${MODULE_DIR}/${file} missing`;
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'www-data']).status !== 0) return 'user www-data missing';
  return undefined;
}

function wwwData(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'www-data']).stdout.toString().trim());
  const gid = Number(spawnSync('id', ['-g', 'www-data']).stdout.toString().trim());
  return { uid, gid };
}

async function chownTree(path: string, ids: { uid: number; gid: number }): Promise<void> {
  await chown(path, ids.uid, ids.gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, ids);
    else await chown(child, ids.uid, ids.gid);
  }
}

/** Lets www-data traverse the temp folders above `path` (mkdtemp makes them 0700). */
async function openAncestors(path: string): Promise<void> {
  const top = tmpdir();
  for (let dir = dirname(path); dir.startsWith(top + sep); dir = dirname(dir)) {
    const st = await stat(dir);
    await chmod(dir, st.mode | 0o011);
  }
}

function config(o: { port: number; serverDir: string; root: string; prefix: string; user?: string; ids?: { uid: number; gid: number } }): string {
  const auth = o.user === undefined
    ? 'Require all granted'
    : `AuthType Basic\n  AuthName "davcrypt-test"\n  AuthBasicProvider file\n  AuthUserFile "${o.serverDir}/htpasswd"\n  Require valid-user`;
  const alias = o.prefix === '/' ? `DocumentRoot "${o.root}"` : `DocumentRoot "${o.serverDir}/empty"\nAlias "${o.prefix.replace(/\/$/, '')}" "${o.root}"`;
  return [
    `ServerName 127.0.0.1`,
    `Listen 127.0.0.1:${o.port}`,
    `PidFile "${o.serverDir}/httpd.pid"`,
    `DefaultRuntimeDir "${o.serverDir}/run"`,
    `Mutex file:${o.serverDir}/run default`,
    `ErrorLog "${o.serverDir}/error.log"`,
    `LogLevel warn`,
    ...MODULES.map(([name, file]) => `LoadModule ${name} ${MODULE_DIR}/${file}`),
    ...(o.ids ? ['User www-data', 'Group www-data'] : []),
    `LogFormat "%h %u \\"%r\\" %>s %b" davcrypt`,
    `CustomLog "${o.serverDir}/access.log" davcrypt`,
    `TypesConfig /etc/mime.types`,
    `KeepAlive On`, `MaxKeepAliveRequests 0`, `KeepAliveTimeout 30`, `Timeout 120`,
    `LimitRequestBody 0`,
    `DavLockDB "${o.serverDir}/lock/DavLock"`,
    alias,
    `<Directory "${o.root}">`,
    `  Dav On`,
    `  Options None`,
    `  AllowOverride None`,
    `  ${auth}`,
    `</Directory>`,
    '',
  ].join('\n');
}

/** Starts Apache serving `opts.root`; rejects with the error log when it does not come up. */
export async function startApache(opts: ApacheOptions): Promise<ApacheServer> {
  const reason = apacheAvailable();
  if (reason) throw new Error(`apache unavailable: ${reason}`);
  const prefix = normalizePrefix(opts.prefix ?? '/');
  const serverDir = await mkdtemp(join(tmpdir(), 'davcrypt-apache-'));
  await mkdir(opts.root, { recursive: true });
  const ids = wwwData();
  for (const d of ['run', 'lock', 'empty']) await mkdir(join(serverDir, d));
  if (opts.user !== undefined) {
    const sha = createHash('sha1').update(opts.password ?? '').digest('base64');
    await writeFile(join(serverDir, 'htpasswd'), `${opts.user}:{SHA}${sha}\n`, { mode: 0o644 });
  }
  if (ids) {
    await chownTree(opts.root, ids);
    await chown(join(serverDir, 'lock'), ids.uid, ids.gid);
    await chmod(serverDir, 0o755);
    await openAncestors(opts.root);
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(serverDir, 'httpd.conf');
    await writeFile(conf, config({ port, serverDir, root: opts.root, prefix, user: opts.user, ids }));
    const output = tailBuffer();
    const child = spawn(APACHE_BIN, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', output.push);
    child.stderr!.on('data', output.push);
    const errorLog = () => readFile(join(serverDir, 'error.log'), 'utf8').catch(() => '');
    let logText = '';
    try {
      await waitForHttp(port, child, 15_000, () => `${output.text()}\n${logText}`);
    } catch (err) {
      logText = await errorLog();
      await stopChild(child);
      lastError = new Error(`${(err as Error).message}\n--- apache output ---\n${output.text()}\n--- error.log ---\n${logText}`);
      continue;
    }
    return {
      url: `http://127.0.0.1:${port}${prefix}`,
      port,
      serverDir,
      pid: child.pid ?? -1,
      errorLog,
      async stop() {
        await stopChild(child);
        await rm(serverDir, { recursive: true, force: true });
      },
    };
  }
  await rm(serverDir, { recursive: true, force: true });
  throw lastError;
}

function normalizePrefix(prefix: string): string {
  let p = prefix.startsWith('/') ? prefix : '/' + prefix;
  if (!p.endsWith('/')) p += '/';
  return p;
}
