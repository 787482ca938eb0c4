// Plaintext from the backend (issue 11, rule 4) on local storage: under plaintext: refuse
// (the default) every stored file the provider replaced with plaintext, cut to 0..7 bytes or
// whose magic it damaged is a 502 with its DC_ERR code for GET, HEAD, Range and COPY, and
// `verify` lists it and exits 3; under plaintext: read such files are served as they are,
// the start warns naming the mount, and a file with the magic is never served as plaintext.
// Also the residual risk SECURITY.md names: whole-file swap and rollback within a mount.
// Home and shared mounts; password and master-key mode.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cipherSizeForPlain } from '../../src/crypto/index.js';
import { createMasterKeyFile } from '../../src/keys/index.js';
import { FILE_ATTACKS, localBackendFiles } from '../helpers/backend-attacker.js';
import { runDavcrypt } from '../helpers/cli.js';
import { propfindBody, responsesOf, startClientGateway, type ClientGateway } from '../helpers/clients.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { expectedCode, runRefuseTable } from '../helpers/plaintext-attacks.js';

const MOUNTS = [
  { path: '/', backend: { type: 'local', root: './storage/{user}' } },
  { path: '/team', users: ['*'], backend: { type: 'local', root: './team' } },
  { path: '/legacy', users: ['*'], plaintext: 'read', backend: { type: 'local', root: './legacy' } },
];

for (const mode of ['password', 'master'] as const) {
  describe(`plaintext: refuse and read (${mode} mode)`, () => {
    let c: ClientGateway;
    let tmp: TempDir;

    beforeAll(async () => {
      tmp = await makeTempDir('trust-plaintext');
      const keyFile = join(tmp.path, 'master.key');
      if (mode === 'master') await createMasterKeyFile(keyFile);
      c = await startClientGateway({
        users: { alice: 'alice-pw' },
        mounts: MOUNTS,
        config: mode === 'master' ? { keys: { mode: 'master', masterKeyFile: keyFile } } : {},
      });
    });
    afterAll(async () => {
      await c?.close();
      await tmp?.cleanup();
    });

    it('start warns about the plaintext: read mount by name', () => {
      const warnings = c.logs.filter((l) => l.level === 'warn' && /plaintext: read/.test(l.message));
      expect(warnings.map((w) => w.mount)).toEqual(['/legacy']);
    });

    for (const [prefix, storage] of [['', 'storage/alice'], ['/team', 'team']] as const) {
      it(`refuse (${prefix || 'home'}): each forged file is 502 with its code for GET, HEAD, Range, COPY; verify exits 3`, async () => {
        const files = localBackendFiles(c.gw.root);
        const paths = await runRefuseTable(c, files, prefix, storage);
        const config = await c.gw.configFile();
        const verify = await runDavcrypt(['verify', prefix || '/', '--config', config, '--user', 'alice'], 'alice-pw\n');
        expect(verify.code).toBe(3);
        for (const [i, attack] of FILE_ATTACKS.entries()) {
          expect(verify.stdout, attack.name).toContain(`FAILED /attack-${i}.bin\t${expectedCode(attack.name)}\t`);
        }
        expect(verify.stdout).toMatch(new RegExp(`verify: \\d+ files: \\d+ verified, 0 not encrypted, ${paths.length} failed`));
        // A listing never shows a plaintext size computed from foreign bytes: the entry keeps its stored size.
        const listing = await c.req('PROPFIND', `${prefix}/`, { headers: { depth: '1' }, body: propfindBody(['getcontentlength']) });
        const entry = (name: string) => responsesOf(listing.text).find((r) => r.includes(name))!;
        expect(entry('attack-0.bin')).toContain(`<D:getcontentlength>${FILE_ATTACKS[0]!.forge(Buffer.alloc(0)).length}</D:getcontentlength>`);
        // 'magic replaced, size kept': a valid cipher size, so arithmetic would say 70000; the probe says not a davcrypt file.
        const sizeKept = FILE_ATTACKS.findIndex((a) => a.name === 'magic replaced, size kept');
        expect(entry(`attack-${sizeKept}.bin`)).toContain(`<D:getcontentlength>${cipherSizeForPlain(70_000)}</D:getcontentlength>`);
        // The damaged files can be moved away and deleted.
        expect((await c.req('MOVE', `${prefix}/attack-0.bin`, { headers: { destination: `${c.url}${prefix}/moved.bin` } })).status).toBe(201);
        expect((await c.req('DELETE', `${prefix}/moved.bin`)).status).toBe(204);
      });
    }

    it('read: a file without the magic is served as it is (GET, HEAD, Range); a file with the magic never is', async () => {
      const files = localBackendFiles(c.gw.root);
      expect((await c.req('PUT', '/legacy/enc.bin', { body: Buffer.alloc(70_000, 7) })).status).toBeLessThan(300);
      const legacy = Buffer.from('stored before encryption was turned on\n');
      await files.put('legacy/old.txt', legacy);
      const get = await c.req('GET', '/legacy/old.txt');
      expect([get.status, get.text]).toEqual([200, legacy.toString()]);
      const head = await c.req('HEAD', '/legacy/old.txt');
      expect([head.status, head.headers['content-length']]).toEqual([200, String(legacy.length)]);
      expect((await c.req('GET', '/legacy/old.txt', { headers: { range: 'bytes=0-5' } })).text).toBe('stored');
      // Cut after the magic: a damaged header, never plaintext, in read mode too.
      const stored = await files.get('legacy/enc.bin');
      for (const n of [8, 40, 64, 100]) {
        await files.put(`legacy/cut-${n}.bin`, stored.subarray(0, n));
        const r = await c.req('GET', `/legacy/cut-${n}.bin`);
        expect(r.status, `cut to ${n}`).toBe(502);
        expect(r.text, `cut to ${n}`).toMatch(/^DC_ERR_(BAD_HEADER|TRUNCATED|TAMPERED):/);
        expect((await c.req('GET', `/legacy/cut-${n}.bin`, { headers: { range: 'bytes=0-3' } })).status).toBe(502);
        // HEAD reads no segment: it can only refuse what the header and size already show (100 bytes is a valid size).
        if (n < 97) expect((await c.req('HEAD', `/legacy/cut-${n}.bin`)).status).toBe(502);
      }
      const config = await c.gw.configFile();
      const verify = await runDavcrypt(['verify', '/legacy', '--config', config, '--user', 'alice'], 'alice-pw\n');
      expect(verify.stdout).toMatch(/verify: 6 files: 1 verified, 1 not encrypted, 4 failed/);
      expect(verify.code).toBe(3);
    });

    it('residual risk, shown: whole files swapped or rolled back within a mount read without error; across mounts they fail', async () => {
      const files = localBackendFiles(c.gw.root);
      for (const [name, text] of [['one.txt', 'version one'], ['two.txt', 'the other file']]) {
        expect((await c.req('PUT', `/team/${name}`, { body: text })).status).toBeLessThan(300);
      }
      const one = await files.get('team/one.txt');
      const two = await files.get('team/two.txt');
      await files.put('team/one.txt', two);
      await files.put('team/two.txt', one);
      expect((await c.req('GET', '/team/one.txt')).text).toBe('the other file'); // undetected: no path binding
      expect((await c.req('PUT', '/team/two.txt', { body: 'version two' })).status).toBeLessThan(300);
      await files.put('team/two.txt', one); // rollback to an older version of the mount's own bytes
      expect((await c.req('GET', '/team/two.txt')).text).toBe('version one');
      // A file from another mount (another mount key) is refused.
      await files.put('storage/alice/from-team.txt', one);
      const foreign = await c.req('GET', '/from-team.txt');
      expect([foreign.status, foreign.text.split(':')[0]]).toEqual([502, 'DC_ERR_UNKNOWN_KEY']);
    });

    it('encrypt-all says when the plaintext: read mount holds no plaintext any more', async () => {
      const files = localBackendFiles(c.gw.root);
      for (const n of [8, 40, 64, 100]) expect((await c.req('DELETE', `/legacy/cut-${n}.bin`)).status).toBe(204);
      await files.put('legacy/second.txt', 'more legacy');
      const config = await c.gw.configFile();
      const run = await runDavcrypt(['encrypt-all', '/legacy', '--config', config, '--user', 'alice'], 'alice-pw\n');
      expect(run.stdout).toMatch(/encrypt-all: 3 files: 2 converted, 1 already done/);
      expect(run.stdout).toMatch(/mount \/legacy holds no plaintext files any more: remove "plaintext: read" from its config/);
      expect(run.code).toBe(0);
      expect((await c.req('GET', '/legacy/old.txt')).text).toBe('stored before encryption was turned on\n');
      expect((await files.get('legacy/old.txt')).subarray(0, 8).toString()).toBe('DAVCRYPT');
    });
  });
}
