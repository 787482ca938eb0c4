// An in-process WebDAV server for tests: webdav-server 2.6.3 (a devDependency; no
// src/ file may import it) serving a temp folder on 127.0.0.1 with one Basic-auth
// user, so `npm test` can run the WebDAV backend's conformance suite without Debian
// packages. It is the peer under test here, never part of the gateway.
import { mkdir } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { v2 as webdav } from 'webdav-server';
import { makeTempDir } from './tmp.js';

export interface InProcessDav {
  /** Base URL of the share, with a trailing slash. */
  url: string;
  /** Folder on this machine that the share serves (its files are stored as plain files). */
  root: string;
  username: string;
  password: string;
  stop(): Promise<void>;
}

/** Starts webdav-server over a fresh temp folder. Throws when it cannot listen. */
export async function startInProcessDav(opts: { username?: string; password?: string } = {}): Promise<InProcessDav> {
  const username = opts.username ?? 'conformance';
  const password = opts.password ?? 'in-process-pw'; // its Basic parser rejects '+', '/' and ':'
  const tmp = await makeTempDir('wds');
  const root = join(tmp.path, 'share');
  await mkdir(root);
  const users = new webdav.SimpleUserManager();
  const user = users.addUser(username, password, false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(user, '/', ['all']);
  const server = new webdav.WebDAVServer({
    hostname: '127.0.0.1',
    port: 0,
    httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'conformance'),
    privilegeManager: privileges,
    requireAuthentification: true,
    rootFileSystem: new webdav.PhysicalFileSystem(root),
  });
  const http = await new Promise<HttpServer>((resolve) => {
    server.start((s) => resolve(s as HttpServer));
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    root,
    username,
    password,
    async stop() {
      http.closeAllConnections?.();
      await new Promise<void>((resolve) => server.stop(() => resolve()));
      await tmp.cleanup();
    },
  };
}
