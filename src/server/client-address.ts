// Who is the client? The socket's peer, unless that peer is one of the configured
// reverse proxies (server.trustedProxies): then X-Forwarded-For is walked from the
// right, skipping trusted hops, and the first other address is the client. Login
// throttling and the failed-login log (fail2ban) key on this address, so behind a
// proxy every client would otherwise share one. Pure header parsing; no I/O.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** A matcher for proxy addresses and CIDRs (already validated by the config loader). */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, prefix] = entry.split('/');
    const type = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(normalizeAddress(addr!), type);
    else list.addSubnet(addr!, Number(prefix), type);
  }
  return list;
}

/** '::ffff:1.2.3.4' → '1.2.3.4' (a dual-stack socket's IPv4 peer); other addresses unchanged. */
export function normalizeAddress(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

function isTrusted(list: BlockList, addr: string): boolean {
  const family = isIP(addr);
  return family !== 0 && list.check(addr, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client address of a request. Without trusted proxies (or from an untrusted peer) the
 * socket's peer; from a trusted proxy, the right-most X-Forwarded-For entry that is not itself
 * a trusted proxy. A malformed entry ends the walk at the hop that sent it (never believed).
 */
export function clientAddressOf(req: IncomingMessage, proxies?: BlockList): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  if (!proxies || !isTrusted(proxies, peer)) return peer;
  const raw = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(raw) ? raw.join(',') : raw ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!);
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrusted(proxies, hop)) break;
  }
  return client;
}
