// [harden] Transport security: HSTS on every TLS answer (errors included), the
// intermediate chain from server.tls.ca sent after the certificate, certificate
// renewal by SIGHUP on the real `davcrypt serve` process (which must survive any
// SIGHUP, with or without TLS), and the plain-HTTP-beyond-loopback warning.
// Certificates are made with the openssl CLI (skipped with a reason when missing).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { request, Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { Writable } from 'node:stream';
import { isLoopback, warnIfPlainHttp } from '../../src/server/transport-security.js';
import { stopChild } from '../helpers/server-process.js';
import { DAVCRYPT_BIN } from '../helpers/cli.js';
import { startTestGateway, TEST_ARGON2, type TestGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
const hasOpenssl = await run('openssl', ['version']).then(() => true, () => false);
if (!hasOpenssl) console.warn('harden-transport: openssl not found; TLS tests skipped');

let dir: string;
/** root CA → intermediate CA → leaf for 127.0.0.1 (serial `serial`), as PEM files in `dir`. */
async function makePki(): Promise<void> {
  const o = (...args: string[]) => run('openssl', args, { cwd: dir });
  await writeFile(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await writeFile(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/CN=Test Root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Test Intermediate');
  await o('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '100', '-days', '2', '-extfile', 'ca.ext', '-out', 'int.pem');
  for (const serial of ['1', '2']) {
    await o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `leaf${serial}.key`, '-out', `leaf${serial}.csr`, '-subj', `/CN=leaf ${serial}`);
    await o('x509', '-req', '-in', `leaf${serial}.csr`, '-CA', 'int.pem', '-CAkey', 'int.key', '-set_serial', serial, '-days', '2', '-extfile', 'leaf.ext', '-out', `leaf${serial}.pem`);
  }
}

/** The certificate chain a TLS client sees at 127.0.0.1:port (leaf first). */
function peerChain(port: number): Promise<PeerCertificate[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const chain: PeerCertificate[] = [];
      let c = s.getPeerCertificate(true);
      while (c && !chain.includes(c)) { chain.push(c); if (c.issuerCertificate === c) break; c = c.issuerCertificate; }
      s.end();
      resolve(chain);
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'davcrypt-tls-'));
  if (hasOpenssl) await makePki();
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe.skipIf(!hasOpenssl)('TLS: HSTS and the intermediate chain', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    await copyFile(join(dir, 'leaf1.pem'), join(dir, 'cert.pem'));
    await copyFile(join(dir, 'leaf1.key'), join(dir, 'key.pem'));
    gw = await startTestGateway({
      users: { alice: 'alice-pw' }, encrypt: false,
      config: { server: { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'int.pem') } } },
    });
  });
  afterAll(async () => { await gw.close(); });

  it('every answer over TLS carries Strict-Transport-Security, errors included; the chain includes the intermediate', async () => {
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    for (const auth of [gw.authHeader('alice'), undefined]) {
      const res = await request(gw.url, { dispatcher: agent, headers: auth ? { authorization: auth } : {} });
      await res.body.dump();
      expect(res.statusCode).toBe(auth ? 200 : 401);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
    }
    await agent.close();
    const chain = await peerChain(gw.port);
    expect(chain.map((c) => c.subject.CN)).toEqual(['leaf 1', 'Test Intermediate']);
  });
});

describe('the real `davcrypt serve` process and SIGHUP', () => {
  async function serve(tls: boolean): Promise<{ child: ChildProcess; url: string; log: () => string }> {
    const data = await mkdtemp(join(dir, 'serve-'));
    const config = {
      server: { host: '127.0.0.1', port: 0, ...(tls ? { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'int.pem') } } : {}) },
      dataDir: data, store: 'memory://', keys: { argon2: TEST_ARGON2 }, log: { level: 'info', json: true },
      mounts: [{ path: '/', backend: { type: 'local', root: join(data, 'storage', '{user}') } }],
    };
    await writeFile(join(data, 'c.yaml'), JSON.stringify(config));
    const child = spawn(process.execPath, [DAVCRYPT_BIN, 'serve', '--config', join(data, 'c.yaml')], {
      env: { ...process.env, DAVCRYPT_ADMIN_PASSWORD: 'admin-pw-123456' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 60_000);
      const check = () => { const m = /davcrypt listening on (\S+)/.exec(out); if (m) { clearTimeout(timer); resolve(m[1]!); } };
      child.stdout!.on('data', check);
      child.on('exit', () => reject(new Error(`exited: ${out}`)));
    });
    return { child, url, log: () => out };
  }
  const waitFor = async (cond: () => boolean | Promise<boolean>, what: string) => {
    for (let i = 0; i < 100; i++) { if (await cond()) return; await new Promise((r) => setTimeout(r, 100)); }
    throw new Error(`timed out waiting for ${what}`);
  };

  it.skipIf(!hasOpenssl)('SIGHUP swaps in a renewed certificate without a restart; a broken one keeps the old', async () => {
    await copyFile(join(dir, 'leaf1.pem'), join(dir, 'cert.pem'));
    await copyFile(join(dir, 'leaf1.key'), join(dir, 'key.pem'));
    const { child, url, log } = await serve(true);
    try {
      const port = Number(new URL(url).port);
      expect((await peerChain(port))[0]!.subject.CN).toBe('leaf 1');
      await copyFile(join(dir, 'leaf2.pem'), join(dir, 'cert.pem'));
      await copyFile(join(dir, 'leaf2.key'), join(dir, 'key.pem'));
      child.kill('SIGHUP');
      await waitFor(() => log().includes('TLS certificate reloaded'), 'the reload log line');
      expect((await peerChain(port)).map((c) => c.subject.CN)).toEqual(['leaf 2', 'Test Intermediate']);
      await writeFile(join(dir, 'cert.pem'), 'not a certificate');
      child.kill('SIGHUP');
      await waitFor(() => log().includes('TLS reload failed'), 'the failure log line');
      expect((await peerChain(port))[0]!.subject.CN).toBe('leaf 2');
      expect(child.exitCode).toBeNull();
      expect(log()).toContain('SIGHUP received');
    } finally {
      await stopChild(child);
    }
  });

  it('without TLS, SIGHUP is logged and the gateway keeps serving', async () => {
    const { child, url, log } = await serve(false);
    try {
      child.kill('SIGHUP');
      await waitFor(() => log().includes('nothing to reload'), 'the SIGHUP log line');
      const res = await request(url, { method: 'OPTIONS' });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      expect(child.exitCode).toBeNull();
      expect(log()).not.toContain('plain HTTP on a non-loopback'); // 127.0.0.1: no warning
    } finally {
      await stopChild(child);
    }
  });
});

describe('plain HTTP beyond loopback', () => {
  it('warns at start, naming the risk, for any non-loopback address; never for loopback', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    for (const host of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.1.2.3']) warnIfPlainHttp(logger, host, false);
    expect(lines).toEqual([]);
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) warnIfPlainHttp(logger, host, false);
    warnIfPlainHttp(logger, '0.0.0.0', true);
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', host: '0.0.0.0' });
    expect(lines[0]).toMatch(/password.*unencrypted|server\.tls/);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('128.0.0.1')).toBe(false);
  });
});
