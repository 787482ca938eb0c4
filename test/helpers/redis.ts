// startRedis(): a throw-away redis-server on 127.0.0.1 and a random port, working dir
// in a temp folder, no persistence. For interop tests only (needs the Debian package);
// callers skip with `redisSkipReason` when it is set. Touches nothing outside its folder.
//
//   const redis = await startRedis();       // redis.url = 'redis://127.0.0.1:PORT'
//   await redis.stop();                     // kills the server, removes the folder
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeStore, createStore } from '../../src/store.js';
import { freePort, stopChild, tailBuffer } from './server-process.js';
import { makeTempDir } from './tmp.js';

/** Why redis tests cannot run here, or undefined when redis-server is installed. */
export const redisSkipReason: string | undefined =
  spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'redis-server not installed (apt-get install redis-server)';

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts redis-server and waits until a store can connect. Throws when it does not come up in 10 s.
 * `port`: listen there (e.g. to bring back a server a test stopped) instead of a free port.
 */
export async function startRedis(options: { port?: number } = {}): Promise<TestRedis> {
  const dir = await makeTempDir('redis');
  for (let attempt = 0; ; attempt++) {
    const port = options.port ?? (await freePort());
    const log = tailBuffer();
    const child: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir.path },
    );
    child.stdout!.on('data', (c: Buffer) => log.push(c));
    child.stderr!.on('data', (c: Buffer) => log.push(c));
    const url = `redis://127.0.0.1:${port}`;
    const stop = async () => {
      await stopChild(child);
      await dir.cleanup();
    };
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        await closeStore(await createStore(url));
        return { url, port, stop };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await stopChild(child);
    if (attempt >= 2 || options.port !== undefined) {
      await dir.cleanup();
      throw new Error(`redis-server did not start on 127.0.0.1:${port}: ${log.text()}`);
    }
  }
}
