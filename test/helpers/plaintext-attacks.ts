// The plaintext attack table (issue 11, rule 4) run against one mount of a running client
// gateway: the provider replaces each stored file (test/helpers/backend-attacker.ts
// FILE_ATTACKS) and the gateway must answer GET, HEAD, Range and COPY with 502 and the
// DC_ERR code under plaintext: refuse. Shared by the local-storage and Apache suites.
import { expect } from 'vitest';
import { FILE_ATTACKS, type BackendFiles } from './backend-attacker.js';
import type { ClientGateway } from './clients.js';
import { patternBytes } from './gateway.js';

/** The code each attack must produce: a cut inside the magic is a bad header, the rest is no magic at all. */
export function expectedCode(attack: string): string {
  return /^cut to [1-7] bytes$/.test(attack) ? 'DC_ERR_BAD_HEADER' : 'DC_ERR_NOT_ENCRYPTED';
}

/**
 * For each attack: PUTs a file through the gateway at `<urlPrefix>/attack-<i>.bin`, forges its
 * stored bytes at `<storagePrefix>/attack-<i>.bin` on the backend, and checks every read path.
 * Returns the URL paths attacked (for a verify run afterwards).
 */
export async function runRefuseTable(c: ClientGateway, files: BackendFiles, urlPrefix: string, storagePrefix: string, auth?: string): Promise<string[]> {
  const paths: string[] = [];
  for (const [i, attack] of FILE_ATTACKS.entries()) {
    const name = `attack-${i}.bin`;
    const url = `${urlPrefix}/${name}`;
    const original = patternBytes(70_000, i);
    expect((await c.req('PUT', url, { body: original, auth })).status, attack.name).toBeLessThan(300);
    const stored = await files.get(`${storagePrefix}/${name}`);
    expect(stored.subarray(0, 8).toString('latin1')).toBe('DAVCRYPT');
    await files.put(`${storagePrefix}/${name}`, attack.forge(stored));
    const code = expectedCode(attack.name);
    const get = await c.req('GET', url, { auth });
    expect([get.status, get.text.split(':')[0]], `GET ${attack.name}`).toEqual([502, code]);
    expect((await c.req('HEAD', url, { auth })).status, `HEAD ${attack.name}`).toBe(502);
    const range = await c.req('GET', url, { auth, headers: { range: 'bytes=0-9' } });
    expect([range.status, range.text.split(':')[0]], `Range ${attack.name}`).toEqual([502, code]);
    const ifRange = await c.req('GET', url, { auth, headers: { range: 'bytes=10-', 'if-range': 'Thu, 01 Jan 2099 00:00:00 GMT' } });
    expect(ifRange.status, `If-Range ${attack.name}`).toBe(502);
    const copy = await c.req('COPY', url, { auth, headers: { destination: `${c.url}${urlPrefix}/copy-${i}.bin` } });
    expect([copy.status, copy.text.split(':')[0]], `COPY ${attack.name}`).toEqual([502, code]);
    expect((await c.req('HEAD', `${urlPrefix}/copy-${i}.bin`, { auth })).status).toBe(404);
    // The damaged file can still be moved out of the way and deleted.
    paths.push(url);
  }
  return paths;
}
