// nginx as a bare reverse proxy in front of the same Apache: the floor any gateway's cost is
// measured against (issue 15). No caching, no buffering of bodies in either direction (so it
// streams like a gateway must), keep-alive to Apache, access log off, one worker per core.
// Config, pid and temp folders live in a temp dir; started and stopped by the bench like
// Apache and rclone.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awaitPeer, freePort, stopChild, which } from './procs.js';

export interface NginxServer {
  /** http://127.0.0.1:PORT (no trailing slash); paths map 1:1 onto Apache's. */
  url: string;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

export function nginxAvailable(): { ok: true; bin: string } | { ok: false; reason: string } {
  const bin = which('nginx') ?? (spawnSync('test', ['-x', '/usr/sbin/nginx']).status === 0 ? '/usr/sbin/nginx' : undefined);
  return bin ? { ok: true, bin } : { ok: false, reason: 'nginx binary not found (apt-get install nginx-light)' };
}

/** Starts nginx proxying every path to `upstreamPort` on 127.0.0.1; throws if it does not answer within 15 s. */
export async function startNginxProxy(upstreamPort: number): Promise<NginxServer> {
  const found = nginxAvailable();
  if (!found.ok) throw new Error(found.reason);
  const work = mkdtempSync(join(tmpdir(), 'davcrypt-bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(work, d));
  const port = await freePort();
  const conf = join(work, 'nginx.conf');
  writeFileSync(conf, [
    'daemon off;',
    'master_process on;',
    'worker_processes auto;',
    // As root, nginx would switch its workers to `nobody`, who cannot use the temp folders here.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(work, 'nginx.pid')};`,
    `error_log ${join(work, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(work, 'body')};`,
    `  proxy_temp_path ${join(work, 'proxy')};`,
    `  fastcgi_temp_path ${join(work, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(work, 'uwsgi')};`,
    `  scgi_temp_path ${join(work, 'scgi')};`,
    `  upstream apache { server 127.0.0.1:${upstreamPort}; keepalive 32; }`,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    client_max_body_size 0;',
    '    location / {',
    '      proxy_pass http://apache;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_request_buffering off;',
    '      proxy_buffering off;',
    // Unbuffered, nginx reads the upstream in proxy_buffer_size pieces (4 KiB by default): 64 KiB, as a gateway's segments.
    '      proxy_buffer_size 64k;',
    '      proxy_buffers 8 64k;', // nginx requires proxy_busy_buffers_size below the buffers' total
    '      proxy_busy_buffers_size 128k;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n'));
  const version = (spawnSync(found.bin, ['-v'], { encoding: 'utf8' }).stderr || '').trim().replace(/^nginx version:\s*/, '');
  const child = spawn(found.bin, ['-p', work, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  await awaitPeer('nginx', child, url + '/', 15_000);
  return {
    url,
    pid: child.pid ?? -1,
    version,
    async stop(): Promise<void> {
      await stopChild(child, 5000, 'SIGQUIT'); // graceful: the master waits for its workers
      rmSync(work, { recursive: true, force: true });
    },
  };
}
