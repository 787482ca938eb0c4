// A TCP proxy on 127.0.0.1 in front of a test backend that can misbehave on command: pass
// bytes, go silent (hold everything), stall only the answers to requests naming a path, cut
// connections after N request bytes, or refuse connections. Counts bytes and open connections
// so tests can see what reached the backend, and when.
//
//   const proxy = await startStallProxy(backendPort);
//   proxy.mode = { kind: 'silent' };          // the backend stops answering (headers timeout)
//   proxy.mode = { kind: 'stallPath', path: '/alice/slow.bin' };
//   proxy.mode = { kind: 'cutAfter', requestBytes: 300_000 };  // reset mid-upload
//   await proxy.refuse();                     // nothing listens any more (ECONNREFUSED)
import net from 'node:net';

export type ProxyMode =
  | { kind: 'pass' }
  | { kind: 'silent' }
  /** Holds the answers to requests naming `path`, after `afterBytes` answer bytes (default 0) went through. */
  | { kind: 'stallPath'; path: string; afterBytes?: number }
  | { kind: 'cutAfter'; requestBytes: number };

export interface StallProxy {
  port: number;
  url: string;
  mode: ProxyMode;
  /** Bytes forwarded client → backend since start (with the time of each forward). */
  readonly upstream: { bytes: number; at: number }[];
  upstreamBytes(): number;
  /** Connections whose answers are being held (stallPath). */
  stalledNow(): number;
  /** Most connections held at the same time. */
  stalledPeak(): number;
  /** Stops listening and drops every connection: the backend is unreachable. */
  refuse(): Promise<void>;
  close(): Promise<void>;
}

export async function startStallProxy(backendPort: number): Promise<StallProxy> {
  const sockets = new Set<net.Socket>();
  const upstream: { bytes: number; at: number }[] = [];
  let stalled = 0;
  let peak = 0;
  const server = net.createServer((client) => {
    const backend = net.connect(backendPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(backend);
    let held = false;
    let sent = 0;
    const drop = () => { client.destroy(); backend.destroy(); };
    const release = () => { if (held) { held = false; stalled -= 1; } };
    client.on('close', () => { sockets.delete(client); release(); backend.destroy(); });
    backend.on('close', () => { sockets.delete(backend); release(); client.destroy(); });
    client.on('error', drop);
    backend.on('error', drop);
    client.on('data', (chunk: Buffer) => {
      const mode = handle.mode;
      if (mode.kind === 'silent') return;
      if (mode.kind === 'stallPath' && !held && chunk.toString('latin1').includes(` ${mode.path} HTTP/1.1`)) {
        held = true;
        stalled += 1;
        peak = Math.max(peak, stalled);
      }
      if (mode.kind === 'cutAfter' && sent + chunk.length > mode.requestBytes) {
        drop();
        return;
      }
      sent += chunk.length;
      upstream.push({ bytes: chunk.length, at: Date.now() });
      backend.write(chunk);
    });
    let answered = 0;
    backend.on('data', (chunk: Buffer) => {
      const mode = handle.mode;
      if (mode.kind === 'silent') return;
      if (held) {
        const allowed = Math.max(0, (mode.kind === 'stallPath' ? mode.afterBytes ?? 0 : 0) - answered);
        if (allowed > 0) client.write(chunk.subarray(0, allowed));
        answered += Math.min(allowed, chunk.length);
        return;
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const shut = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const handle: StallProxy = {
    port,
    url: `http://127.0.0.1:${port}/`,
    mode: { kind: 'pass' },
    upstream,
    upstreamBytes: () => upstream.reduce((n, u) => n + u.bytes, 0),
    stalledNow: () => stalled,
    stalledPeak: () => peak,
    refuse: async () => { if (server.listening) await shut(); },
    close: async () => { if (server.listening) await shut(); else for (const s of sockets) s.destroy(); },
  };
  return handle;
}
