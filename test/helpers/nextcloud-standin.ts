// A stand-in for a Nextcloud/ownCloud server's login surface, on Apache httpd (Debian apache2):
// mod_dav under /remote.php/dav/files/{user}/ with per-user Basic auth (htpasswd,
// `Require user alice` on alice's folder only) and an OCS `cloud/user` endpoint (a CGI script
// answering with REMOTE_USER) under /ocs/v1.php/cloud/user. Passwords can be changed while it
// runs (Apache reads htpasswd per request). 127.0.0.1 only; its files live in temp folders.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apacheAvailable } from './apache.js';
import { freePort, stopChild, tailBuffer, waitForHttp } from './server-process.js';

const MODULE_DIR = '/usr/lib/apache2/modules';
const MODULES = [
  ['mpm_event_module', 'mod_mpm_event.so'], ['authz_core_module', 'mod_authz_core.so'],
  ['authn_core_module', 'mod_authn_core.so'], ['authn_file_module', 'mod_authn_file.so'],
  ['auth_basic_module', 'mod_auth_basic.so'], ['authz_user_module', 'mod_authz_user.so'],
  ['alias_module', 'mod_alias.so'], ['mime_module', 'mod_mime.so'],
  ['dav_module', 'mod_dav.so'], ['dav_fs_module', 'mod_dav_fs.so'], ['cgid_module', 'mod_cgid.so'],
] as const;

export interface NextcloudStandIn {
  /** 'http://127.0.0.1:PORT' */
  origin: string;
  /** The per-user WebDAV URL template: origin + '/remote.php/dav/files/{user}/'. */
  davTemplate: string;
  /** origin + '/ocs/v1.php/cloud/user' */
  ocsUserUrl: string;
  /** Folder whose subfolder <user>/ holds each user's raw files. */
  filesRoot: string;
  /** Sets (or changes) a user's password in htpasswd; effective on the next request. */
  setPassword(user: string, password: string): Promise<void>;
  /** Apache's access log: "%h %u \"%r\" %>s". */
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Why the stand-in cannot run here (Apache or mod_cgid missing), or undefined. */
export function standInMissing(): string | undefined {
  return apacheAvailable() ?? (spawnSync('test', ['-f', join(MODULE_DIR, 'mod_cgid.so')]).status === 0 ? undefined : 'mod_cgid missing');
}

const OCS_SCRIPT = `#!/bin/sh
# OCS cloud/user for the logged-in user (Apache ran Basic auth and set REMOTE_USER).
printf 'Content-Type: application/json\\r\\n\\r\\n'
printf '{"ocs":{"meta":{"status":"ok","statuscode":100,"message":"OK"},"data":{"id":"%s","display-name":"%s"}}}' "$REMOTE_USER" "$REMOTE_USER"
`;

/** Starts the stand-in with the given users (name → password); each gets an empty home folder. */
export async function startNextcloudStandIn(users: Record<string, string>): Promise<NextcloudStandIn> {
  const reason = standInMissing();
  if (reason) throw new Error(`stand-in unavailable: ${reason}`);
  const dir = await mkdtemp(join(tmpdir(), 'davcrypt-ncstand-'));
  await chmod(dir, 0o755);
  const filesRoot = join(dir, 'files');
  for (const d of ['run', 'lock', 'empty', 'cgi', 'files']) await mkdir(join(dir, d));
  const passwords = new Map<string, string>();
  const writeHtpasswd = () => writeFile(join(dir, 'htpasswd'),
    [...passwords].map(([u, p]) => `${u}:{SHA}${createHash('sha1').update(p).digest('base64')}\n`).join(''), { mode: 0o644 });
  for (const [u, p] of Object.entries(users)) {
    passwords.set(u, p);
    await mkdir(join(filesRoot, u));
  }
  await writeHtpasswd();
  await writeFile(join(dir, 'cgi', 'ocs-user'), OCS_SCRIPT, { mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? {
    uid: Number(spawnSync('id', ['-u', 'www-data']).stdout.toString().trim()),
    gid: Number(spawnSync('id', ['-g', 'www-data']).stdout.toString().trim()),
  } : undefined;
  if (ids) {
    for (const p of [filesRoot, join(dir, 'lock'), join(dir, 'run'), ...Object.keys(users).map((u) => join(filesRoot, u))]) await chown(p, ids.uid, ids.gid);
  }
  const auth = `AuthType Basic\n  AuthName "nextcloud-standin"\n  AuthBasicProvider file\n  AuthUserFile "${dir}/htpasswd"`;
  const conf = (port: number) => [
    'ServerName 127.0.0.1', `Listen 127.0.0.1:${port}`, `PidFile "${dir}/httpd.pid"`, `DefaultRuntimeDir "${dir}/run"`,
    `Mutex file:${dir}/run default`, `ErrorLog "${dir}/error.log"`, 'LogLevel warn',
    ...MODULES.map(([name, file]) => `LoadModule ${name} ${MODULE_DIR}/${file}`),
    ...(ids ? ['User www-data', 'Group www-data'] : []),
    `ScriptSock "${dir}/run/cgisock"`,
    'LogFormat "%h %u \\"%r\\" %>s" standin', `CustomLog "${dir}/access.log" standin`,
    'TypesConfig /etc/mime.types', 'LimitRequestBody 0', `DavLockDB "${dir}/lock/DavLock"`,
    `DocumentRoot "${dir}/empty"`,
    `Alias "/remote.php/dav/files" "${filesRoot}"`,
    `ScriptAlias "/ocs/v1.php/cloud/user" "${dir}/cgi/ocs-user"`,
    `<Directory "${filesRoot}">`, '  Dav On', '  Options None', '  AllowOverride None', '  Require all denied', '</Directory>',
    ...Object.keys(users).flatMap((u) => [`<Directory "${filesRoot}/${u}">`, `  ${auth}`, `  Require user ${u}`, '</Directory>']),
    `<Directory "${dir}/cgi">`, `  ${auth}`, '  Require valid-user', '  Options +ExecCGI', '</Directory>',
    '',
  ].join('\n');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    await writeFile(join(dir, 'httpd.conf'), conf(port));
    const output = tailBuffer();
    const child = spawn('/usr/sbin/apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', output.push);
    child.stderr!.on('data', output.push);
    try {
      await waitForHttp(port, child, 15_000, () => output.text());
    } catch (err) {
      await stopChild(child);
      lastError = err;
      continue;
    }
    const origin = `http://127.0.0.1:${port}`;
    return {
      origin,
      davTemplate: `${origin}/remote.php/dav/files/{user}/`,
      ocsUserUrl: `${origin}/ocs/v1.php/cloud/user`,
      filesRoot,
      async setPassword(user, password) {
        passwords.set(user, password);
        await writeHtpasswd();
      },
      accessLog: () => readFile(join(dir, 'access.log'), 'utf8').catch(() => ''),
      async stop() {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}
