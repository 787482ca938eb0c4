// Report lines of the tools read as English: "1 file", "2 files".
import { describe, expect, it } from 'vitest';
import { migrateLines, plural, recoverLines, verifyLines } from '../../../src/tools/report-text.js';

describe('report lines', () => {
  it('count one file as "1 file"', () => {
    expect(plural(1, 'file')).toBe('1 file');
    expect(plural(0, 'file')).toBe('0 files');
    const scope = [{ root: '/', status: 'opened' as const, keyCount: 1, holdsCurrent: true, unauthenticatedCount: 0 }];
    expect(recoverLines({ files: 1, decrypted: 1, copied: 0, salvaged: [], failed: [], unauthenticated: [], keyrings: scope, sourceBytes: 9 }).at(-1))
      .toBe('recover: 1 file: 1 decrypted, 0 copied as plaintext, 0 salvaged with holes, 0 failed');
    expect(verifyLines({ files: 1, verified: 1, plaintext: 0, failed: [], unauthenticated: [], keyrings: scope } as never).at(-1)).toBe('verify: 1 file: 1 verified, 0 not encrypted, 0 failed');
    expect(migrateLines('encrypt-all', { files: 1, converted: 1, skipped: 0, changed: [], failed: [], nestedMounts: [], staleTempsRemoved: 1 }).at(-1))
      .toBe('encrypt-all: 1 file: 1 converted, 0 already done, 0 changed meanwhile, 0 failed; removed 1 leftover temp copy of an interrupted run');
  });
});
