// The floor of any Node gateway (issue 15): a reverse proxy that does nothing but forward,
// node:http in front, undici to the backend (davcrypt's own stack), one process. No
// authentication, no crypto, no WebDAV logic, no log. Run by bench/lib/node-proxy.ts as
// `node --import tsx node-proxy-server.ts PORT UPSTREAM_ORIGIN`; prints "listening" when up.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const [portArg, upstream] = process.argv.slice(2);
const pool = new Pool(upstream!, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'host', 'proxy-connection', 'te', 'trailer']);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

const server = createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined;
  pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers: forwardable(req.headers), body: hasBody ? req : undefined })
    .then((up) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
      res.writeHead(up.statusCode, headers);
      pipeline(up.body, res, () => undefined);
    }, () => {
      res.statusCode = 502;
      res.end();
    });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => { server.close(); void pool.close(); process.exit(0); });
