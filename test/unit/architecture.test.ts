// The dependency direction of src/ as a test. Each top-level folder (and each
// top-level module) is a node; ALLOWED says which nodes it may import. Imports are
// read with TypeScript's own pre-processor (static, `export … from`, `import type`
// and dynamic `import()` alike), so a type-only import counts: a cycle of types is
// still a cycle a maintainer has to keep in their head. docs/DESIGN.md §2 explains
// the layers; change ALLOWED there and here together.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/**
 * Which node may import which (besides itself). Read bottom-up: crypto/ is pure and
 * imports only errors; backends/ knows the cipher but nothing above it; keys/ stores
 * keyrings on backends; users/ turns a login into mounts; server/ speaks WebDAV over
 * users' mounts; tools/ are the offline jobs; app and cli/ compose everything, and
 * nothing imports cli/ (src/cli.ts is its entry, part of the node).
 */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  events: [],
  logging: [],
  mutex: [],
  crypto: ['errors'],
  store: ['errors'],
  'store-mutex': ['errors', 'store', 'mutex'],
  config: ['errors', 'crypto'],
  backends: ['errors', 'logging', 'events', 'crypto'],
  keys: ['errors', 'logging', 'events', 'crypto', 'backends', 'config', 'store', 'store-mutex'],
  users: ['errors', 'logging', 'events', 'crypto', 'backends', 'keys', 'config', 'store', 'store-mutex'],
  server: ['errors', 'logging', 'events', 'backends', 'users', 'store', 'store-mutex', 'mutex'],
  tools: ['errors', 'logging', 'events', 'crypto', 'backends', 'keys', 'config', 'users', 'store'],
  ops: ['errors', 'logging', 'events', 'config', 'backends', 'store'],
  web: ['errors', 'logging', 'events', 'crypto', 'backends', 'keys', 'users', 'server', 'store', 'store-mutex'],
  app: ['errors', 'logging', 'events', 'config', 'keys', 'users', 'server', 'store', 'store-mutex', 'backends', 'crypto', 'ops', 'web'],
  cli: ['errors', 'logging', 'events', 'config', 'keys', 'users', 'server', 'store', 'store-mutex', 'backends', 'crypto', 'tools', 'app', 'ops', 'web'],
};

/** Packages crypto/ may import: computation only, no file system, network or storage. */
const CRYPTO_PACKAGES = new Set(['node:crypto', 'node:stream', 'node:stream/promises', 'node:buffer', 'node:util', 'argon2', 'lru-cache']);
/** The only backends/ files server/ may import: the Backend contract, path helpers and the storage layout names, never a backend's internals. */
const SERVER_MAY_USE_FROM_BACKENDS = new Set(['backends/types.ts', 'backends/paths.ts', 'backends/layout.ts', 'backends/index.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

interface Import { from: string; specifier: string; target?: string }

/** Every import of every src file; `target` is the src-relative .ts file for relative specifiers. */
function readImports(): { files: string[]; imports: Import[] } {
  const files = sourceFiles(SRC).map((f) => relative(SRC, f));
  const imports: Import[] = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      const target = fileName.startsWith('.')
        ? relative(SRC, resolve(SRC, dirname(file), fileName)).replace(/\.js$/, '.ts')
        : undefined;
      imports.push({ from: file, specifier: fileName, target });
    }
  }
  return { files, imports };
}

/** The node of a src-relative file: its top folder, or its module name at the top ('cli.ts' is in 'cli'). */
function nodeOf(file: string): string {
  const [first, ...rest] = file.split('/');
  return rest.length > 0 ? first! : first!.replace(/\.ts$/, '');
}

/** Strongly connected components with more than one member (Tarjan). */
function cyclesOf(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); component.push(w); } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const { files, imports } = readImports();
const local = imports.filter((i) => i.target !== undefined) as Required<Import>[];
const bare = imports.filter((i) => i.target === undefined);

describe('architecture: dependency direction of src/', () => {
  it('reads a plausible import graph (the parser sees static, type-only, re-export and dynamic imports)', () => {
    expect(files.length).toBeGreaterThan(80);
    expect(local.length).toBeGreaterThan(300);
    // One of each kind, known to exist: a dynamic CLI command, a type-only import, a re-export.
    expect(local.some((i) => i.from === 'cli.ts' && i.target.startsWith('cli/'))).toBe(true);
    expect(local.some((i) => i.from === 'backends/encrypting.ts' && i.target === 'crypto/index.ts')).toBe(true);
    expect(local.some((i) => i.from === 'keys/types.ts' && i.target === 'crypto/index.ts')).toBe(true);
    for (const i of local) expect(files, `${i.from} imports ${i.specifier}`).toContain(i.target);
  });

  it('every node is in the allow-list, and the allow-list itself has no cycle', () => {
    for (const f of files) expect(Object.keys(ALLOWED), `${f}: add its folder to ALLOWED`).toContain(nodeOf(f));
    const graph = new Map(Object.entries(ALLOWED).map(([k, v]) => [k, new Set(v)]));
    expect(cyclesOf(graph)).toEqual([]);
  });

  it('each folder imports only what the allow-list permits (crypto no I/O, backends never server, nothing imports cli/)', () => {
    const violations = local
      .filter((i) => nodeOf(i.from) !== nodeOf(i.target) && !ALLOWED[nodeOf(i.from)]?.includes(nodeOf(i.target)))
      .map((i) => `${i.from} -> ${i.target}`);
    expect(violations).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const graph = new Map<string, Set<string>>(files.map((f) => [f, new Set()]));
    for (const i of local) graph.get(i.from)!.add(i.target);
    expect(cyclesOf(graph)).toEqual([]);
  });

  it('crypto/ imports no I/O module or package', () => {
    const offending = bare.filter((i) => nodeOf(i.from) === 'crypto' && !CRYPTO_PACKAGES.has(i.specifier));
    expect(offending.map((i) => `${i.from} -> ${i.specifier}`)).toEqual([]);
  });

  it('server/ uses a backend only through the Backend contract, never a backend module', () => {
    const offending = local.filter((i) => nodeOf(i.from) === 'server' && nodeOf(i.target) === 'backends' && !SERVER_MAY_USE_FROM_BACKENDS.has(i.target));
    expect(offending.map((i) => `${i.from} -> ${i.target}`)).toEqual([]);
  });

  it('src/ imports only Node built-ins and runtime dependencies (webdav-server and tsx are dev-only)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const packageOf = (s: string) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
    const offending = bare.filter((i) => !(i.specifier.startsWith('node:') || builtins.has(i.specifier) || packageOf(i.specifier) in pkg.dependencies));
    expect(offending.map((i) => `${i.from} -> ${i.specifier}`)).toEqual([]);
    expect(pkg.dependencies).not.toHaveProperty('webdav-server');
    expect(pkg.dependencies).not.toHaveProperty('tsx');
  });
});
