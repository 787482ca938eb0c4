// Where auth.provider: backend checks a login by default: the user's home, i.e. the passthrough
// URL cut after its first segment holding {user}.
import { describe, expect, it } from 'vitest';
import { homeOf } from '../../../src/users/backend-login.js';

describe('backend login URL', () => {
  it('cuts the passthrough URL after the {user} segment', () => {
    expect(homeOf('https://c.example/remote.php/dav/files/{user}/davcrypt/')).toBe('https://c.example/remote.php/dav/files/{user}/');
    expect(homeOf('https://c.example/remote.php/dav/files/{user}/')).toBe('https://c.example/remote.php/dav/files/{user}/');
    expect(homeOf('https://c.example/dav/u-{user}/x/y/')).toBe('https://c.example/dav/u-{user}/');
  });
});
