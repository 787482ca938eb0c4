// The mount id's string form is an input of every keyring tag (docs/FORMAT.md §3.4): these exact bytes
// must never change, and nothing that is not one of them may parse.
import { describe, expect, it } from 'vitest';
import {
  formatMountId, homeMountId, parseMountId, requireMountId, sameMountId, sharedMountId, type MountId,
} from '../../../src/keys/mount-id.js';

describe('mount id', () => {
  const vectors: [MountId, string][] = [
    [homeMountId('alice', '/'), 'home:alice'],
    [homeMountId('alice', '/photos'), 'home:alice:/photos'],
    [sharedMountId('/team'), 'shared:/team'],
    [sharedMountId('/'), 'shared:/'],
  ];

  it('formats to the fixed strings and parses them back', () => {
    for (const [id, text] of vectors) {
      expect(formatMountId(id)).toBe(text);
      expect(parseMountId(text)).toEqual(id);
      expect(requireMountId(text, 'test')).toEqual(id);
    }
  });

  it('is plain frozen data with the parsed parts', () => {
    expect(homeMountId('alice', '/photos')).toEqual({ kind: 'home', user: 'alice', path: '/photos' });
    expect(sharedMountId('/team')).toEqual({ kind: 'shared', path: '/team' });
    expect(Object.isFrozen(parseMountId('home:alice'))).toBe(true);
  });

  it('refuses to become a string by accident (a template literal would store [object Object])', () => {
    const id = homeMountId('alice', '/');
    expect(() => `keyring:${id as unknown as string}`).toThrow(/formatMountId/);
    expect(() => String(id)).toThrow(/formatMountId/);
    expect(JSON.stringify(id)).toBe('{"kind":"home","user":"alice","path":"/"}');
  });

  it('refuses what is not a mount id', () => {
    for (const bad of ['', 'home:', 'home:../x', 'home:alice:photos', 'shared:team', 'shared', 'user:alice', 'HOME:alice']) {
      expect(parseMountId(bad), bad).toBeUndefined();
      expect(() => requireMountId(bad, 'the keyring index'), bad).toThrow(/the keyring index: .* is not a mount id/);
    }
  });

  it('builds only valid ids', () => {
    expect(() => homeMountId('../x', '/')).toThrow(/invalid user name/);
    expect(() => homeMountId('alice', 'photos')).toThrow(/must start with \//);
    expect(() => sharedMountId('team')).toThrow(/must start with \//);
  });

  it('tells a user named "shared" from a shared mount', () => {
    const home = homeMountId('shared', '/');
    expect(formatMountId(home)).toBe('home:shared');
    expect(parseMountId('home:shared')).toEqual(home);
    expect(sameMountId(home, sharedMountId('/'))).toBe(false);
    expect(sameMountId(home, homeMountId('shared', '/'))).toBe(true);
  });
});
