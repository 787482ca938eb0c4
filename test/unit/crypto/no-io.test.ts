// crypto/ is pure code: it must not import file system, network, HTTP client or backend modules.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../../src/crypto/', import.meta.url);
const FORBIDDEN = [/^(node:)?fs(\/promises)?$/, /^(node:)?net$/, /^(node:)?tls$/, /^(node:)?https?$/, /^(node:)?dgram$/, /^(node:)?child_process$/, /^undici/, /backends\//];

describe('src/crypto has no I/O imports', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  it('finds the crypto modules', () => {
    expect(files).toEqual(expect.arrayContaining(['format.ts', 'segment.ts', 'stream.ts', 'ranges.ts', 'wrap.ts', 'envelope.ts', 'keyring.ts', 'index.ts']));
  });
  for (const file of files) {
    it(`${file} imports nothing forbidden`, () => {
      const src = readFileSync(new URL(file, dir), 'utf8');
      const specifiers = [...src.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
        (m) => m[1] ?? m[2] ?? m[3]!,
      );
      expect(specifiers.length).toBeGreaterThan(0);
      for (const spec of specifiers) {
        for (const rule of FORBIDDEN) expect(rule.test(spec), `${file} imports ${spec}`).toBe(false);
      }
    });
  }
});
