// The backend conformance suite: one vitest describe block that every Backend
// implementation must pass (local, webdav against in-process webdav-server, Apache and
// rclone, EncryptingBackend, the gateway). Independent of encryption: stored sizes are
// compared with written sizes only when the factory declares `exactSizes`; raw files are
// inspected only via `rawRoot`. A case a backend (or its peer server) cannot support is
// reported as skipped with the reason, never counted as passed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as vitestIt, type TestContext } from 'vitest';
import { isDavcryptError } from '../../src/errors.js';
import type { Backend } from '../../src/backends/types.js';
import { bodyOf, expectCode, randomBody, readAll, sha256, slowBody } from './helpers.js';

export interface ConformanceSubject {
  backend: Backend;
  cleanup(): Promise<void>;
  /** Folder on this machine where the backend's root is stored as plain files (enables on-disk checks). */
  rawRoot?: string;
  /** The stored size reported by stat/list equals the written length (false for encrypting wrappers). Default false. */
  exactSizes?: boolean;
  /**
   * Cases this subject cannot pass for a reason outside the backend (a peer server's known bug),
   * by test title, with the reason: they are reported as skipped. Keep it short and name the peer.
   */
  unsupported?: Record<string, string>;
}

export type ConformanceFactory = () => Promise<ConformanceSubject>;

/** Names that break naive URL, XML or shell handling. */
export const TRICKY_NAMES = [
  'with space.txt', 'hash#tag.txt', 'question?mark.txt', 'percent%20sign.txt', 'plus+sign.txt', 'amp&ersand.txt',
  'quote"double.txt', "quote'single.txt", 'semi;colon=eq.txt', 'brackets[1]{2}.txt', 'lt<gt>.txt', 'tilde~dollar$.txt',
  'caf\u00e9-nfc.txt', 'nai\u0308ve-nfd.txt', '\u65e5\u672c\u8a9e.txt', 'emoji-\u{1F600}.txt',
];

export function backendConformance(name: string, factory: ConformanceFactory): void {
  describe(`backend conformance: ${name}`, () => {
    let subject: ConformanceSubject;
    // Every case below is declared through this `it`: a case the subject lists as unsupported
    // is skipped (with its reason) before it runs, so a report never counts it as passed.
    const it = (title: string, fn: (ctx: TestContext) => Promise<void> | void) => vitestIt(title, async (ctx) => {
      const why = subject?.unsupported?.[title];
      if (why !== undefined) ctx.skip(why);
      await fn(ctx);
    });
    let b: Backend;
    let n = 0;
    /** A fresh folder per test so tests never see each other's files. */
    const fresh = async (label: string): Promise<string> => {
      const dir = `/c${++n}-${label}`;
      await b.mkdir(dir);
      return dir;
    };
    const text = async (path: string, opts?: Parameters<Backend['read']>[1]) => (await readAll((await b.read(path, opts)).body)).toString();
    const rawNames = (dir: string): string[] | undefined =>
      subject.rawRoot === undefined ? undefined : readdirSync(join(subject.rawRoot, dir)).sort();

    beforeAll(async () => {
      subject = await factory();
      b = subject.backend;
    });
    afterAll(async () => {
      await subject?.backend.close();
      await subject?.cleanup();
    });

    it('has a name without credentials and declared capabilities', () => {
      expect(b.name).toMatch(/^[a-z-]+:/);
      expect(b.name).not.toMatch(/:\/\/[^/]*@/);
      for (const key of ['rangeRead', 'serverSideMove', 'serverSideCopy', 'setModified', 'quota'] as const) {
        expect(typeof b.capabilities[key]).toBe('boolean');
      }
    });

    it('stats the root as a folder', async () => {
      const root = await b.stat('/');
      expect(root.type).toBe('directory');
      expect(root.path).toBe('/');
    });

    describe('round trips', () => {
      const cases: Array<[string, Buffer, boolean]> = [
        ['empty body', Buffer.alloc(0), true],
        ['small body', Buffer.from('hello, backend\n'), true],
        ['small body of unknown length', Buffer.from('no length given'), false],
        ['1.5 MiB body', randomBody(1536 * 1024), true],
        ['1.25 MiB body of unknown length', randomBody(1280 * 1024), false],
      ];
      for (const [label, data, withSize] of cases) {
        it(label, async () => {
          const dir = await fresh('rt');
          const path = `${dir}/file.bin`;
          const written = await b.write(path, bodyOf(data), withSize ? { size: data.length } : {});
          expect(written.type).toBe('file');
          expect(written.path).toBe(path);
          expect(written.name).toBe('file.bin');
          expect(written.etag).toBeTruthy();
          const st = await b.stat(path);
          expect(sameEtag(st.etag, written.etag), `${st.etag} vs ${written.etag}`).toBe(true);
          expect(st.size).toBe(written.size);
          if (subject.exactSizes) expect(st.size).toBe(data.length);
          const r = await b.read(path);
          const back = await readAll(r.body);
          expect(back.length).toBe(data.length);
          expect(sha256(back)).toBe(sha256(data));
          expect(r.info.size).toBe(st.size);
          expect(r.info.type).toBe('file');
          if (r.info.etag !== undefined) expect(sameEtag(r.info.etag, st.etag), `${r.info.etag} vs ${st.etag}`).toBe(true);
          expect(r.range).toBeUndefined();
        });
      }
    });

    describe('metadata', () => {
      it('stat and list report type, size, etag and lastModified', async () => {
        const dir = await fresh('meta');
        const before = Date.now();
        await b.write(`${dir}/a.txt`, bodyOf('aaaa'), { size: 4 });
        await b.mkdir(`${dir}/sub`);
        const entries = await b.list(dir);
        expect(entries.map((e) => e.name).sort()).toEqual(['a.txt', 'sub']);
        const file = entries.find((e) => e.name === 'a.txt')!;
        const sub = entries.find((e) => e.name === 'sub')!;
        expect(file.type).toBe('file');
        expect(file.path).toBe(`${dir}/a.txt`);
        expect(sub.type).toBe('directory');
        expect(sub.path).toBe(`${dir}/sub`);
        expect(sub.size).toBe(0);
        const st = await b.stat(`${dir}/a.txt`);
        expect(file.size).toBe(st.size);
        if (subject.exactSizes) expect(st.size).toBe(4);
        expect(sameEtag(file.etag, st.etag)).toBe(true);
        expect(st.lastModified).toBeInstanceOf(Date);
        // Second-granular servers round down; allow for that and for a little clock skew.
        expect(st.lastModified!.getTime()).toBeGreaterThan(before - 5_000);
        expect(st.lastModified!.getTime()).toBeLessThan(Date.now() + 5_000);
        expect((await b.stat(`${dir}/sub`)).type).toBe('directory');
        expect(await b.list(`${dir}/sub`)).toEqual([]);
      });

      const twoEntriesAndAFolder = async (label: string) => {
        const dir = await fresh(label);
        await b.write(`${dir}/one.txt`, bodyOf('one'), { size: 3 });
        await b.write(`${dir}/two.txt`, bodyOf('second'), { size: 6 });
        await b.mkdir(`${dir}/sub`);
        return { dir, listed: (await b.list(dir)).map((e) => [e.name, e.type, e.size]).sort() };
      };

      it('listWithSelf agrees with stat and list (when offered)', async (ctx) => {
        if (!b.listWithSelf) ctx.skip('backend offers no listWithSelf');
        const { dir, listed } = await twoEntriesAndAFolder('self');
        const both = await b.listWithSelf!(dir);
        expect(both.self).toMatchObject({ path: dir, type: 'directory' });
        expect(both.children.map((e) => [e.name, e.type, e.size]).sort()).toEqual(listed);
        const ofFile = await b.listWithSelf!(`${dir}/one.txt`);
        expect(ofFile.self).toMatchObject({ path: `${dir}/one.txt`, type: 'file', size: (await b.stat(`${dir}/one.txt`)).size });
        expect(ofFile.children).toEqual([]);
        await expectCode(b.listWithSelf!(`${dir}/missing`), 'DC_ERR_NOT_FOUND');
      });

      it('listEach agrees with stat and list (when offered)', async (ctx) => {
        if (!b.listEach) ctx.skip('backend offers no listEach');
        const { dir, listed } = await twoEntriesAndAFolder('each');
        const selves: string[] = [];
        const children: Array<[string, string, number]> = [];
        await b.listEach!(dir, (e, self) => {
          if (self) selves.push(e.path);
          else children.push([e.name, e.type, e.size]);
        });
        expect(selves).toEqual([dir]);
        expect(children.sort()).toEqual(listed);
        await expectCode(b.listEach!(`${dir}/missing`, () => undefined), 'DC_ERR_NOT_FOUND');
      });

      it('changes the etag when the body is rewritten', async () => {
        const dir = await fresh('etag');
        const first = await b.write(`${dir}/e.txt`, bodyOf('version-1'), { size: 9 });
        const second = await b.write(`${dir}/e.txt`, bodyOf('version-2'), { size: 9 });
        expect(second.etag).toBeTruthy();
        expect(second.etag).not.toBe(first.etag);
        expect(sameEtag((await b.stat(`${dir}/e.txt`)).etag, second.etag)).toBe(true);
        expect(await text(`${dir}/e.txt`)).toBe('version-2');
      });

      it('lists the root', async () => {
        const dir = await fresh('rootlist');
        const names = (await b.list('/')).map((e) => e.name);
        expect(names).toContain(dir.slice(1));
      });

      it('list of a file is DC_ERR_NOT_A_COLLECTION', async () => {
        const dir = await fresh('listfile');
        await b.write(`${dir}/f`, bodyOf('x'), { size: 1 });
        await expectCode(b.list(`${dir}/f`), 'DC_ERR_NOT_A_COLLECTION');
      });

      it('read of a folder is DC_ERR_IS_A_COLLECTION', async () => {
        const dir = await fresh('readdir');
        await b.mkdir(`${dir}/sub`);
        await expectCode(b.read(`${dir}/sub`), 'DC_ERR_IS_A_COLLECTION');
      });

      it('write onto a folder is DC_ERR_IS_A_COLLECTION and leaves it', async () => {
        const dir = await fresh('writedir');
        await b.mkdir(`${dir}/sub`);
        await b.write(`${dir}/sub/keep`, bodyOf('k'), { size: 1 });
        await expectCode(b.write(`${dir}/sub`, bodyOf('x'), { size: 1 }), 'DC_ERR_IS_A_COLLECTION');
        expect(await text(`${dir}/sub/keep`)).toBe('k');
      });
    });

    describe('range reads', () => {
      const data = Buffer.from('0123456789abcdefghij'); // 20 bytes
      let path: string;
      beforeAll(async () => {
        path = `${await fresh('range')}/r.txt`;
        await b.write(path, bodyOf(data), { size: data.length });
      });
      it('start and end (inclusive)', async () => {
        const r = await b.read(path, { range: { start: 3, end: 7 } });
        expect((await readAll(r.body)).toString()).toBe('34567');
        expect(r.range).toEqual({ start: 3, end: 7 });
        expect(r.info.size).toBe((await b.stat(path)).size);
      });
      it('open-ended', async () => {
        const r = await b.read(path, { range: { start: 15 } });
        expect((await readAll(r.body)).toString()).toBe('fghij');
        expect(r.range).toEqual({ start: 15, end: 19 });
      });
      it('first byte and last byte', async () => {
        expect(await text(path, { range: { start: 0, end: 0 } })).toBe('0');
        expect(await text(path, { range: { start: 19, end: 19 } })).toBe('j');
      });
      it('end beyond the size is clamped', async () => {
        const r = await b.read(path, { range: { start: 10, end: 1000 } });
        expect((await readAll(r.body)).toString()).toBe('abcdefghij');
        expect(r.range).toEqual({ start: 10, end: 19 });
      });
      it('start beyond the end is DC_ERR_RANGE_NOT_SATISFIABLE', async () => {
        await expectCode(b.read(path, { range: { start: 20 } }), 'DC_ERR_RANGE_NOT_SATISFIABLE');
        await expectCode(b.read(path, { range: { start: 500, end: 600 } }), 'DC_ERR_RANGE_NOT_SATISFIABLE');
      });
      it('a range inside a large body', async () => {
        const big = randomBody(1100 * 1024);
        const bigPath = `${await fresh('bigrange')}/big.bin`;
        await b.write(bigPath, bodyOf(big), { size: big.length });
        const start = 700_001;
        const end = 1_000_000;
        const r = await b.read(bigPath, { range: { start, end } });
        const got = await readAll(r.body);
        expect(got.length).toBe(end - start + 1);
        expect(got.equals(big.subarray(start, end + 1))).toBe(true);
      });
    });

    describe('names', () => {
      for (const fileName of TRICKY_NAMES) {
        it(`round-trips ${JSON.stringify(fileName)}`, async () => {
          const dir = await fresh('name');
          const path = `${dir}/${fileName}`;
          const w = await b.write(path, bodyOf(`body of ${fileName}`));
          expect(w.name).toBe(fileName);
          expect(w.path).toBe(path);
          const st = await b.stat(path);
          expect(st.name).toBe(fileName);
          expect(st.path).toBe(path);
          expect(await text(path)).toBe(`body of ${fileName}`);
          const listed = await b.list(dir);
          expect(listed.map((e) => e.name)).toEqual([fileName]);
          expect(listed[0]!.path).toBe(path);
          await b.move(path, `${dir}/moved ${fileName}`);
          expect(await text(`${dir}/moved ${fileName}`)).toBe(`body of ${fileName}`);
          await b.delete(`${dir}/moved ${fileName}`);
          expect(await b.list(dir)).toEqual([]);
        });
      }

      it('keeps NFC and NFD spellings apart as written', async () => {
        const dir = await fresh('nfc');
        const nfc = 'r\u00e9sum\u00e9';
        const nfd = nfc.normalize('NFD');
        await b.write(`${dir}/${nfc}`, bodyOf('nfc'));
        if (b.capabilities.caseInsensitive) {
          // One name to a folding store (Dropbox): the second spelling is refused, the first kept.
          await expectCode(b.write(`${dir}/${nfd}`, bodyOf('nfd')), 'DC_ERR_NAME_CONFLICT');
          expect((await b.list(dir)).map((e) => e.name)).toEqual([nfc]);
          expect(await text(`${dir}/${nfc}`)).toBe('nfc');
          return;
        }
        await b.write(`${dir}/${nfd}`, bodyOf('nfd'));
        const names = (await b.list(dir)).map((e) => e.name).sort();
        expect(names).toEqual([nfc, nfd].sort());
        expect(await text(`${dir}/${nfc}`)).toBe('nfc');
        expect(await text(`${dir}/${nfd}`)).toBe('nfd');
      });

      it('handles tricky folder names with children', async () => {
        const dir = await fresh('dirnames');
        const sub = `${dir}/a #?%+&'" \u00fc\u{1F600}`;
        await b.mkdir(sub);
        await b.mkdir(`${sub}/inner ? dir`);
        await b.write(`${sub}/inner ? dir/f #1.txt`, bodyOf('deep'));
        const listed = await b.list(sub);
        expect(listed).toHaveLength(1);
        expect(listed[0]!.name).toBe('inner ? dir');
        expect(listed[0]!.path).toBe(`${sub}/inner ? dir`);
        expect(listed[0]!.type).toBe('directory');
        const inner = await b.list(`${sub}/inner ? dir`);
        expect(inner.map((e) => e.path)).toEqual([`${sub}/inner ? dir/f #1.txt`]);
        expect((await b.list(dir)).map((e) => e.name)).toEqual([sub.slice(dir.length + 1)]);
      });
    });

    describe('mkdir', () => {
      it('creates nested folders one level at a time', async () => {
        const dir = await fresh('mk');
        await b.mkdir(`${dir}/a`);
        await b.mkdir(`${dir}/a/b`);
        await b.mkdir(`${dir}/a/b/c`);
        expect((await b.stat(`${dir}/a/b/c`)).type).toBe('directory');
        expect((await b.list(`${dir}/a/b`)).map((e) => e.name)).toEqual(['c']);
      });
      it('on an existing folder or file is DC_ERR_EXISTS', async () => {
        const dir = await fresh('mkex');
        await b.mkdir(`${dir}/a`);
        await expectCode(b.mkdir(`${dir}/a`), 'DC_ERR_EXISTS');
        await b.write(`${dir}/f`, bodyOf('f'));
        await expectCode(b.mkdir(`${dir}/f`), 'DC_ERR_EXISTS');
      });
      it('with a missing parent is DC_ERR_CONFLICT', async () => {
        const dir = await fresh('mkconf');
        await expectCode(b.mkdir(`${dir}/missing/child`), 'DC_ERR_CONFLICT');
      });
    });

    describe('delete', () => {
      it('deletes a file', async () => {
        const dir = await fresh('del');
        await b.write(`${dir}/f`, bodyOf('x'));
        await b.delete(`${dir}/f`);
        await expectCode(b.stat(`${dir}/f`), 'DC_ERR_NOT_FOUND');
        expect(await b.list(dir)).toEqual([]);
      });
      it('deletes a folder tree', async () => {
        const dir = await fresh('deltree');
        await b.mkdir(`${dir}/t`);
        await b.mkdir(`${dir}/t/u`);
        await b.write(`${dir}/t/u/f`, bodyOf('x'));
        await b.write(`${dir}/t/g`, bodyOf('y'));
        await b.delete(`${dir}/t`);
        await expectCode(b.stat(`${dir}/t`), 'DC_ERR_NOT_FOUND');
        await expectCode(b.stat(`${dir}/t/u/f`), 'DC_ERR_NOT_FOUND');
        expect(await b.list(dir)).toEqual([]);
      });
    });

    for (const op of ['move', 'copy'] as const) {
      describe(op, () => {
        const keepsSource = op === 'copy';
        it(`${op}s a file`, async () => {
          const dir = await fresh(op);
          await b.write(`${dir}/src.txt`, bodyOf('payload'));
          await b[op](`${dir}/src.txt`, `${dir}/dst.txt`);
          expect(await text(`${dir}/dst.txt`)).toBe('payload');
          if (keepsSource) expect(await text(`${dir}/src.txt`)).toBe('payload');
          else await expectCode(b.stat(`${dir}/src.txt`), 'DC_ERR_NOT_FOUND');
        });
        it(`${op}s a folder tree`, async () => {
          const dir = await fresh(`${op}tree`);
          await b.mkdir(`${dir}/s`);
          await b.mkdir(`${dir}/s/in`);
          await b.write(`${dir}/s/in/f.txt`, bodyOf('deep'));
          await b.write(`${dir}/s/g.txt`, bodyOf('top'));
          await b[op](`${dir}/s`, `${dir}/d`);
          expect(await text(`${dir}/d/in/f.txt`)).toBe('deep');
          expect(await text(`${dir}/d/g.txt`)).toBe('top');
          expect((await b.list(`${dir}/d`)).map((e) => e.name).sort()).toEqual(['g.txt', 'in']);
          if (keepsSource) expect(await text(`${dir}/s/in/f.txt`)).toBe('deep');
          else await expectCode(b.stat(`${dir}/s`), 'DC_ERR_NOT_FOUND');
        });
        it(`${op} onto an existing file without overwrite is DC_ERR_EXISTS and changes nothing`, async () => {
          const dir = await fresh(`${op}noow`);
          await b.write(`${dir}/a`, bodyOf('A'));
          await b.write(`${dir}/b`, bodyOf('B'));
          await expectCode(b[op](`${dir}/a`, `${dir}/b`), 'DC_ERR_EXISTS');
          await expectCode(b[op](`${dir}/a`, `${dir}/b`, { overwrite: false }), 'DC_ERR_EXISTS');
          expect(await text(`${dir}/a`)).toBe('A');
          expect(await text(`${dir}/b`)).toBe('B');
        });
        it(`${op} onto an existing file with overwrite replaces it`, async () => {
          const dir = await fresh(`${op}ow`);
          await b.write(`${dir}/a`, bodyOf('A'));
          await b.write(`${dir}/b`, bodyOf('B'));
          await b[op](`${dir}/a`, `${dir}/b`, { overwrite: true });
          expect(await text(`${dir}/b`)).toBe('A');
          if (!keepsSource) await expectCode(b.stat(`${dir}/a`), 'DC_ERR_NOT_FOUND');
        });
        it(`${op} of a folder onto an existing folder with overwrite replaces (not merges) it`, async () => {
          const dir = await fresh(`${op}owdir`);
          await b.mkdir(`${dir}/s`);
          await b.write(`${dir}/s/new`, bodyOf('new'));
          await b.mkdir(`${dir}/d`);
          await b.write(`${dir}/d/old`, bodyOf('old'));
          await b[op](`${dir}/s`, `${dir}/d`, { overwrite: true });
          expect((await b.list(`${dir}/d`)).map((e) => e.name)).toEqual(['new']);
        });
        it(`${op} to a missing parent is DC_ERR_CONFLICT`, async () => {
          const dir = await fresh(`${op}conf`);
          await b.write(`${dir}/a`, bodyOf('A'));
          await expectCode(b[op](`${dir}/a`, `${dir}/missing/a`), 'DC_ERR_CONFLICT');
          expect(await text(`${dir}/a`)).toBe('A');
        });
        it(`${op} of a missing source is DC_ERR_NOT_FOUND`, async () => {
          const dir = await fresh(`${op}nf`);
          await expectCode(b[op](`${dir}/nope`, `${dir}/x`), 'DC_ERR_NOT_FOUND');
        });
      });
    }

    describe('write failures', () => {
      it('write with a missing parent is DC_ERR_CONFLICT', async () => {
        const dir = await fresh('wconf');
        await expectCode(b.write(`${dir}/missing/f`, bodyOf('x'), { size: 1 }), 'DC_ERR_CONFLICT');
      });

      it('an AbortSignal fired mid-stream leaves the previous version intact', async () => {
        const dir = await fresh('abort');
        const before = await b.write(`${dir}/f`, bodyOf('previous'));
        const ac = new AbortController();
        const body = slowBody(400, 64 * 1024, (i) => { if (i === 8) ac.abort(); });
        await expectCode(b.write(`${dir}/f`, body, { size: 400 * 64 * 1024, signal: ac.signal }), 'DC_ERR_ABORTED');
        expect(await text(`${dir}/f`)).toBe('previous');
        expect(sameEtag((await b.stat(`${dir}/f`)).etag, before.etag)).toBe(true);
        expect((await b.list(dir)).map((e) => e.name)).toEqual(['f']);
        await waitForRaw(() => rawNames(dir), ['f']);
      });

      it('an aborted write of a new file leaves nothing behind', async () => {
        const dir = await fresh('abortnew');
        const ac = new AbortController();
        const body = slowBody(400, 64 * 1024, (i) => { if (i === 5) ac.abort(); });
        await expectCode(b.write(`${dir}/new`, body, { signal: ac.signal }), 'DC_ERR_ABORTED');
        await expectCode(b.stat(`${dir}/new`), 'DC_ERR_NOT_FOUND');
        await waitForRaw(() => rawNames(dir), []);
      });

      it('a body stream that errors leaves the previous version intact', async () => {
        const dir = await fresh('bodyerr');
        await b.write(`${dir}/f`, bodyOf('previous'));
        for (const withSize of [true, false]) {
          let caught: unknown;
          try {
            await b.write(`${dir}/f`, slowBody(50, 64 * 1024, undefined, 6), withSize ? { size: 50 * 64 * 1024 } : {});
          } catch (err) {
            caught = err;
          }
          expect(isDavcryptError(caught), `rejects with a DavcryptError (size known: ${withSize})`).toBe(true);
          expect(await text(`${dir}/f`)).toBe('previous');
        }
        await waitForRaw(() => rawNames(dir), ['f']);
      });

      it('an already aborted signal rejects with DC_ERR_ABORTED', async () => {
        const dir = await fresh('preabort');
        await expectCode(b.write(`${dir}/f`, bodyOf('x'), { signal: AbortSignal.abort() }), 'DC_ERR_ABORTED');
        await expectCode(b.stat(`${dir}/f`), 'DC_ERR_NOT_FOUND');
      });
    });

    describe('conditional writes', () => {
      it('ifMatch with the current etag succeeds; with another is DC_ERR_PRECONDITION_FAILED', async () => {
        const dir = await fresh('ifm');
        const v1 = await b.write(`${dir}/f`, bodyOf('one'));
        const v2 = await b.write(`${dir}/f`, bodyOf('two'), { ifMatch: v1.etag });
        expect(await text(`${dir}/f`)).toBe('two');
        await expectCode(b.write(`${dir}/f`, bodyOf('three'), { ifMatch: v1.etag }), 'DC_ERR_PRECONDITION_FAILED');
        await expectCode(b.write(`${dir}/f`, bodyOf('three'), { ifMatch: '"definitely-not-the-etag"' }), 'DC_ERR_PRECONDITION_FAILED');
        expect(await text(`${dir}/f`)).toBe('two');
        expect(sameEtag((await b.stat(`${dir}/f`)).etag, v2.etag)).toBe(true);
      });
      it('ifMatch on a missing file is DC_ERR_PRECONDITION_FAILED', async () => {
        const dir = await fresh('ifmmiss');
        await expectCode(b.write(`${dir}/f`, bodyOf('x'), { ifMatch: '"abc"' }), 'DC_ERR_PRECONDITION_FAILED');
        await expectCode(b.stat(`${dir}/f`), 'DC_ERR_NOT_FOUND');
      });
      it("ifNoneMatch '*' creates a new file and refuses an existing one", async () => {
        const dir = await fresh('ifnm');
        await b.write(`${dir}/f`, bodyOf('first'), { ifNoneMatch: '*' });
        await expectCode(b.write(`${dir}/f`, bodyOf('second'), { ifNoneMatch: '*' }), 'DC_ERR_PRECONDITION_FAILED');
        expect(await text(`${dir}/f`)).toBe('first');
      });
    });

    describe('not found', () => {
      it('every operation on a missing path is DC_ERR_NOT_FOUND', async () => {
        const dir = await fresh('nf');
        const missing = `${dir}/missing`;
        await expectCode(b.stat(missing), 'DC_ERR_NOT_FOUND');
        await expectCode(b.list(missing), 'DC_ERR_NOT_FOUND');
        await expectCode(b.read(missing), 'DC_ERR_NOT_FOUND');
        await expectCode(b.read(missing, { range: { start: 0, end: 1 } }), 'DC_ERR_NOT_FOUND');
        await expectCode(b.delete(missing), 'DC_ERR_NOT_FOUND');
        await expectCode(b.move(missing, `${dir}/x`), 'DC_ERR_NOT_FOUND');
        await expectCode(b.copy(missing, `${dir}/x`), 'DC_ERR_NOT_FOUND');
        if (b.capabilities.setModified && b.setModified) await expectCode(b.setModified(missing, new Date()), 'DC_ERR_NOT_FOUND');
        await expectCode(b.stat(`${dir}/missing/deeper`), 'DC_ERR_NOT_FOUND');
      });
    });

    describe('optional features', () => {
      it('setModified sets the modification time (when supported)', async (ctx) => {
        if (!b.capabilities.setModified || !b.setModified) ctx.skip('backend has no setModified capability');
        const dir = await fresh('mtime');
        await b.write(`${dir}/f`, bodyOf('x'));
        const when = new Date('2001-02-03T04:05:06Z');
        await b.setModified!(`${dir}/f`, when);
        expect((await b.stat(`${dir}/f`)).lastModified!.getTime()).toBe(when.getTime());
      });
      it('quota reports numbers (when supported)', async (ctx) => {
        if (!b.capabilities.quota || !b.quota) ctx.skip('backend has no quota capability');
        // Fields stay undefined when the server does not report them (Apache mod_dav_fs, rclone).
        const q = await b.quota!('/');
        expect(typeof q).toBe('object');
        if (q.available !== undefined) expect(q.available).toBeGreaterThanOrEqual(0);
        if (q.used !== undefined) expect(q.used).toBeGreaterThanOrEqual(0);
        await expectCode(b.quota!(`/missing-${Date.now()}`), 'DC_ERR_NOT_FOUND');
      });
    });
  });
}

/** Weak comparison (RFC 9110 §8.8.3.2): Apache serves W/"x" for a just-written file and "x" a second later. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** Raw-folder checks tolerate servers that clean up temp files a moment after answering. */
async function waitForRaw(read: () => string[] | undefined, expected: string[]): Promise<void> {
  let got = read();
  if (got === undefined) return;
  for (let i = 0; i < 50 && JSON.stringify(got) !== JSON.stringify(expected); i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = read();
  }
  expect(got, `raw folder holds ${JSON.stringify(got)}`).toEqual(expected);
}
