import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DavcryptError, ERROR_CODES, davError, toDavcryptError } from '../../src/errors.js';
import { HTTP_STATUS } from '../../src/server/error-status.js';

describe('errors registry', () => {
  it('docs/errors.md lists every code with its HTTP status (server/error-status.ts)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(Object.keys(HTTP_STATUS).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      expect(doc, `docs/errors.md must list ${code}`).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    }
    const documented = [...doc.matchAll(/`(DC_ERR_[A-Z_]+)`/g)].map((m) => m[1]);
    for (const code of documented) expect(Object.keys(ERROR_CODES)).toContain(code);
  });

  it('carries code, details and cause (no HTTP status: that is server/\'s)', () => {
    const cause = new Error('inner');
    const err = davError('DC_ERR_TAMPERED', 'segment 3 failed', { cause, details: { segment: 3 } });
    expect(err).toBeInstanceOf(DavcryptError);
    expect(err.code).toBe('DC_ERR_TAMPERED');
    expect('httpStatus' in err).toBe(false);
    expect(err.cause).toBe(cause);
    expect(err.details.segment).toBe(3);
  });

  it('wraps foreign errors', () => {
    expect(toDavcryptError(new Error('boom')).code).toBe('DC_ERR_INTERNAL');
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(toDavcryptError(abort).code).toBe('DC_ERR_ABORTED');
  });
});
