// The WebDAV front over an encrypted mount (EncryptingBackend over LocalBackend):
// plaintext round trips and sizes in listings, ciphertext at rest, ranged reads,
// and tampered ciphertext answered 502 (first segment) or cut off (later segment).
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type WebDAVClient } from 'webdav';
import { dav, startHarness, type Harness } from '../helpers/server-harness.js';

let h: Harness;
let client: WebDAVClient;
beforeAll(async () => {
  h = await startHarness({ encrypted: true });
  client = createClient(h.url, { username: h.user, password: h.password });
});
afterAll(async () => { await h.close(); });

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('encrypted mount', () => {
  for (const size of [0, 1, 65535, 65536, 65537, 5 * 1024 * 1024]) {
    it(`round trip of ${size} bytes, ciphertext at rest, plaintext size in PROPFIND`, async () => {
      const data = randomBytes(size);
      await client.putFileContents(`/e-${size}.bin`, data, { headers: { 'Content-Length': String(size) } });
      const stored = await readFile(`${h.root}/e-${size}.bin`);
      expect(stored.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
      expect(stored.length).toBeGreaterThan(size);
      expect(sha(Buffer.from((await client.getFileContents(`/e-${size}.bin`)) as Buffer))).toBe(sha(data));
      const pf = await dav(h, 'PROPFIND', `/e-${size}.bin`, { headers: { depth: '0' } });
      expect(pf.text).toContain(`<D:getcontentlength>${size}</D:getcontentlength>`);
      const head = await dav(h, 'HEAD', `/e-${size}.bin`);
      expect(head.headers['content-length']).toBe(String(size));
    });
  }

  it('ranges across segment boundaries', async () => {
    const data = randomBytes(300_000);
    await dav(h, 'PUT', '/r.bin', { body: data });
    for (const [a, b] of [[0, 0], [65535, 65536], [131071, 131073], [299_999, 299_999], [1000, 250_000]] as const) {
      const r = await dav(h, 'GET', '/r.bin', { headers: { range: `bytes=${a}-${b}` } });
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes ${a}-${b}/300000`);
      expect(r.body.equals(data.subarray(a, b + 1))).toBe(true);
    }
    expect((await dav(h, 'GET', '/r.bin', { headers: { range: 'bytes=300000-' } })).headers['content-range']).toBe('bytes */300000');
  });

  it('tampered first segment → 502 DC_ERR_TAMPERED; tampered later segment → connection cut', async () => {
    const data = randomBytes(200_000);
    await dav(h, 'PUT', '/t1.bin', { body: data });
    await dav(h, 'PUT', '/t2.bin', { body: data });
    const c1 = await readFile(`${h.root}/t1.bin`);
    c1[100] ^= 1;
    await writeFile(`${h.root}/t1.bin`, c1);
    const early = await dav(h, 'GET', '/t1.bin');
    expect(early.status).toBe(502);
    expect(early.text).toMatch(/^DC_ERR_TAMPERED: /);
    const c2 = await readFile(`${h.root}/t2.bin`);
    c2[c2.length - 100] ^= 1;
    await writeFile(`${h.root}/t2.bin`, c2);
    await expect(dav(h, 'GET', '/t2.bin')).rejects.toThrow();
  });

  it('MOVE and COPY do not re-encrypt (ciphertext bytes unchanged)', async () => {
    await dav(h, 'PUT', '/mv.bin', { body: randomBytes(1000) });
    const before = await readFile(`${h.root}/mv.bin`);
    expect((await dav(h, 'COPY', '/mv.bin', { headers: { destination: '/cp.bin' } })).status).toBe(201);
    expect((await dav(h, 'MOVE', '/mv.bin', { headers: { destination: '/mv2.bin' } })).status).toBe(201);
    expect((await readFile(`${h.root}/mv2.bin`)).equals(before)).toBe(true);
    expect((await readFile(`${h.root}/cp.bin`)).equals(before)).toBe(true);
  });
});
