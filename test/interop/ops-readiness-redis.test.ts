// Readiness with a Redis store: /readyz answers 503 naming "store" while redis-server
// is down, and 200 again once it is back on the same port (the store reconnects by
// itself); davcrypt_check_up{check="store"} follows. Skips without redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { readyz, scrape, waitForReadyz } from '../helpers/ops.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';

if (redisSkipReason) console.log(`skipping ops-readiness-redis: ${redisSkipReason}`);

describe.skipIf(redisSkipReason !== undefined)('readiness follows the Redis store', () => {
  let redis: TestRedis | undefined;
  let gw: TestGateway;

  beforeAll(async () => {
    redis = await startRedis();
    gw = await startTestGateway({ store: redis.url, config: { server: { metrics: { host: '127.0.0.1', port: 0 } } } });
  });
  afterAll(async () => {
    await gw?.close();
    await redis?.stop();
  });

  it('200 → 503 naming "store" when redis-server stops → 200 when it is back', async () => {
    expect((await readyz(gw.url)).body).toEqual({ status: 'ok', checks: { store: 'ok', 'backend /': 'ok' } });
    const port = redis!.port;
    await redis!.stop();
    redis = undefined;
    const down = await waitForReadyz(gw.url, 503);
    expect(down.body).toMatchObject({ status: 'unavailable', failing: ['store'] });
    expect(down.body.checks['backend /']).toBe('ok');
    expect((await scrape(gw.gateway.metricsUrl!)).value('davcrypt_check_up', { check: 'store' })).toBe(0);
    // /livez stays 200: the process is fine, only a dependency is not.
    const live = await fetch(new URL('/livez', gw.url));
    expect(live.status).toBe(200);

    redis = await startRedis({ port });
    const up = await waitForReadyz(gw.url, 200, 30_000);
    expect(up.body.checks.store).toBe('ok');
    expect((await scrape(gw.gateway.metricsUrl!)).value('davcrypt_ready')).toBe(1);
  });
});
