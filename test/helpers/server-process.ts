// Shared plumbing for test servers run as child processes (Apache, rclone):
// pick a free loopback port, wait until it answers HTTP, stop the child for sure.
// Sends traffic to 127.0.0.1 only.
import { type ChildProcess } from 'node:child_process';
import { createServer, request } from 'node:http';

/** A free TCP port on 127.0.0.1 (bind to 0, read, close; the tiny reuse race is retried by callers). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves when an HTTP request to the port gets any answer; rejects when the child exits or time runs out. */
export async function waitForHttp(port: number, child: ChildProcess, timeoutMs: number, describeFailure: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = () => { exited = true; };
  child.once('exit', onExit);
  try {
    while (Date.now() < deadline) {
      if (exited) throw new Error(`server exited during startup (code ${child.exitCode}, signal ${child.signalCode}): ${describeFailure()}`);
      const ok = await new Promise<boolean>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'OPTIONS', path: '/', timeout: 1000 }, (res) => {
          res.resume();
          resolve(true);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => { req.destroy(); resolve(false); });
        req.end();
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms: ${describeFailure()}`);
  } finally {
    child.off('exit', onExit);
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Keeps the last `maxBytes` of a child's output for error messages. */
export function tailBuffer(maxBytes = 16_384): { push(chunk: Buffer | string): void; text(): string } {
  let buf = '';
  return {
    push(chunk) { buf = (buf + chunk.toString()).slice(-maxBytes); },
    text: () => buf,
  };
}
