// The access log (one structured line per request, never credentials) and the
// size of a Windows-style allprop listing of 1,000 entries (must stay < 1,000,000 bytes).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

describe('a GET cut mid-body by a segment that fails to verify', () => {
  it('is logged with the status actually sent (200) as an integrity abort, never as a 502', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write(chunk, _enc, cb) { logged.push(JSON.parse(String(chunk))); cb(); } });
    const logger = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const enc = await startHarness({ encrypted: true, logger });
    try {
      await dav(enc, 'PUT', '/late.bin', { body: Buffer.alloc(300_000, 7) });
      const stored = await readFile(`${enc.root}/late.bin`);
      stored[stored.length - 100] ^= 1; // last segment: the headers (200) are out before it is read
      await writeFile(`${enc.root}/late.bin`, stored);
      await expect(dav(enc, 'GET', '/late.bin')).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 100));
      const about = logged.filter((l) => l.path === '/late.bin' && l.method === 'GET');
      expect(about.find((l) => l.message === 'response cut mid-body (integrity abort)')).toMatchObject({ status: 200, code: 'DC_ERR_TAMPERED', cut: true });
      expect(about.find((l) => l.message === 'request')).toMatchObject({ status: 200, cut: true });
      expect(about.some((l) => l.status === 502)).toBe(false);
    } finally {
      await enc.close();
    }
  });
});
