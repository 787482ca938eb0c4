// First use of an encrypted mount on two gateway instances at once (one Redis store,
// one storage folder): both must end up with ONE mount key, so every file written
// through either instance stays readable through both, also after a restart.
// Guards the fixed race where KeyringService serialized per process only: two instances
// could each create a different first key, the store kept one, and files written with the
// other became DC_ERR_UNKNOWN_KEY. Skips without redis-server.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayPair, type TestGateway } from '../helpers/gateway.js';
import { redisSkipReason, startRedis, type TestRedis } from '../helpers/redis.js';

const skipReason = redisSkipReason;
if (skipReason) console.log(`multi-instance-keyring: skipped: ${skipReason}`);

const USERS: Record<string, string> = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`user${i}`, `password-${i}`]));

describe.skipIf(skipReason !== undefined)('first key of a mount created concurrently on two instances', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    ({ a, b } = await startGatewayPair(redis.url, USERS));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await redis?.stop();
  });

  const put = async (gw: TestGateway, user: string, path: string, body: string) => {
    const r = await request(new URL(path, gw.url), { method: 'PUT', body, headers: { authorization: gw.authHeader(user) } });
    await r.body.dump();
    return r.statusCode;
  };
  const get = async (gw: TestGateway, user: string, path: string) => {
    const r = await request(new URL(path, gw.url), { headers: { authorization: gw.authHeader(user) } });
    return `${r.statusCode} ${await r.body.text()}`;
  };

  it('every file written during the race reads back on both instances, also after a restart', async () => {
    const users = Object.keys(USERS);
    const statuses = await Promise.all(users.flatMap((u) => [put(a, u, '/from-a.txt', `A ${u}`), put(b, u, '/from-b.txt', `B ${u}`)]));
    expect(statuses.every((s) => s === 201)).toBe(true);
    const check = async () => {
      for (const u of users) {
        for (const gw of [a, b]) {
          expect(await get(gw, u, '/from-a.txt')).toBe(`200 A ${u}`);
          expect(await get(gw, u, '/from-b.txt')).toBe(`200 B ${u}`);
        }
      }
    };
    await check();
    await a.restart();
    await b.restart();
    await check();
  });
});
