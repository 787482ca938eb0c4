// The access log (one structured line per request, never credentials) and the
// size of a Windows-style allprop listing of 1,000 entries (must stay < 1,000,000 bytes).
import { mkdir, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
const lines: Array<Record<string, unknown>> = [];
beforeAll(async () => {
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  h = await startHarness({ logger });
});
afterAll(async () => { await h.close(); });

describe('access log', () => {
  it('logs method, path, status, bytes, ms, user per request and never credentials', async () => {
    await dav(h, 'PUT', '/log.txt', { body: 'twelve bytes' });
    await dav(h, 'GET', '/log.txt');
    await dav(h, 'GET', '/log.txt', { auth: 'Basic ' + Buffer.from('alice:wrong-secret').toString('base64') });
    await new Promise((r) => setTimeout(r, 50));
    const requests = lines.filter((l) => l.message === 'request');
    expect(requests.find((l) => l.method === 'GET' && l.status === 200)).toMatchObject({ path: '/log.txt', bytes: 12, user: 'alice' });
    expect(typeof requests[0]!.ms).toBe('number');
    expect(requests.find((l) => l.status === 401)).toBeDefined();
    const all = JSON.stringify(lines);
    expect(all).not.toContain(h.password);
    expect(all).not.toContain('wrong-secret');
    expect(all.toLowerCase()).not.toContain('authorization');
  });
});

describe('Windows listing size', () => {
  it('allprop Depth 1 over 1,000 entries stays under 1,000,000 bytes', async () => {
    await mkdir(`${h.root}/big`);
    for (let i = 0; i < 1000; i++) await writeFile(`${h.root}/big/Document number ${i} with a long name.docx`, 'x');
    const r = await dav(h, 'PROPFIND', '/big', { headers: { depth: '1', 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' } });
    expect(r.status).toBe(207);
    expect(r.text.split('<D:response>')).toHaveLength(1002);
    expect(r.body.length).toBeLessThan(1_000_000);
    console.log(`allprop listing of 1000 entries: ${r.body.length} bytes`);
  });
});
