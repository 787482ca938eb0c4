// A same-size overwrite racing range GETs, a few hundred rounds, on local storage: zero false
// tamper alarms (the header cache binds only ETags read with their bytes, and a tag failure on a
// cached header re-reads it once). The Apache variant is in test/interop/faults-apache.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { overwriteRace } from '../helpers/overwrite-race.js';

describe('same-size overwrite racing range GETs (local storage)', () => {
  let gw: TestGateway;
  beforeAll(async () => { gw = await startTestGateway(); });
  afterAll(() => gw?.close());

  it('300 rounds: every range GET is a 206 with the bytes of one written version, never 502', async () => {
    const r = await overwriteRace(gw, gw.authHeader(), '/race.bin', 300);
    console.log(`[faults] overwrite race (local): ${r.rounds} rounds, ${r.gets} range GETs, statuses ${JSON.stringify(r.statuses)}, wrong bytes ${r.wrongBytes}, ${r.ms} ms${r.failures.length ? `; ${r.failures.join(' | ')}` : ''}`);
    expect(r.statuses[502] ?? 0).toBe(0);
    expect(r.statuses).toEqual({ 206: r.gets });
    expect(r.wrongBytes).toBe(0);
  }, 120_000);
});
