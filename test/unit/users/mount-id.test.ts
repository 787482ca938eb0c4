// The mount id's string form is an input of every keyring tag (docs/FORMAT.md §3.4): these exact bytes
// must never change, and nothing that is not one of them may parse.
import { describe, expect, it } from 'vitest';
import { formatMountId, isSharedMountId, parseMountId, type MountId } from '../../../src/users/mount-id.js';

describe('mount id', () => {
  const vectors: [MountId, string][] = [
    [{ kind: 'home', user: 'alice', path: '/' }, 'home:alice'],
    [{ kind: 'home', user: 'alice', path: '/photos' }, 'home:alice:/photos'],
    [{ kind: 'shared', path: '/team' }, 'shared:/team'],
    [{ kind: 'shared', path: '/' }, 'shared:/'],
  ];

  it('formats to the fixed strings and parses them back', () => {
    for (const [id, text] of vectors) {
      expect(formatMountId(id)).toBe(text);
      expect(parseMountId(text)).toEqual(id);
    }
  });

  it('refuses what is not a mount id', () => {
    for (const bad of ['', 'home:', 'home:../x', 'home:alice:photos', 'shared:team', 'shared', 'user:alice', 'HOME:alice']) {
      expect(parseMountId(bad), bad).toBeUndefined();
    }
  });

  it('tells shared ids from home ids', () => {
    expect(isSharedMountId('shared:/team')).toBe(true);
    expect(isSharedMountId('home:alice')).toBe(false);
    expect(isSharedMountId('nonsense')).toBe(false);
  });
});
