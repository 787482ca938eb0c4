import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddressOf, trustedProxyList } from '../../../src/server/client-address.js';

const req = (peer: string, xff?: string | string[]) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('clientAddressOf', () => {
  const proxies = trustedProxyList(['127.0.0.1', '10.0.0.0/8', '::1']);

  it('is the socket peer without trusted proxies, or from an untrusted peer (X-Forwarded-For ignored)', () => {
    expect(clientAddressOf(req('203.0.113.5', '1.1.1.1'))).toBe('203.0.113.5');
    expect(clientAddressOf(req('203.0.113.5', '1.1.1.1'), proxies)).toBe('203.0.113.5');
    expect(clientAddressOf(req('::ffff:203.0.113.5'))).toBe('203.0.113.5');
  });

  it('from a trusted proxy: the right-most entry that is not itself a trusted proxy', () => {
    expect(clientAddressOf(req('127.0.0.1', '198.51.100.9'), proxies)).toBe('198.51.100.9');
    // A client-sent (forged) left part is skipped: the proxy appended the real peer on the right.
    expect(clientAddressOf(req('127.0.0.1', '6.6.6.6, 198.51.100.9'), proxies)).toBe('198.51.100.9');
    expect(clientAddressOf(req('::ffff:127.0.0.1', '198.51.100.9, 10.1.2.3'), proxies)).toBe('198.51.100.9');
    expect(clientAddressOf(req('::1', ['198.51.100.9', '10.1.2.3']), proxies)).toBe('198.51.100.9');
    expect(clientAddressOf(req('127.0.0.1', '10.0.0.7'), proxies)).toBe('10.0.0.7'); // only proxies: the left-most
    expect(clientAddressOf(req('127.0.0.1'), proxies)).toBe('127.0.0.1');
    expect(clientAddressOf(req('127.0.0.1', 'garbage, 198.51.100.9'), proxies)).toBe('198.51.100.9');
    expect(clientAddressOf(req('127.0.0.1', '198.51.100.9, "><script>'), proxies)).toBe('127.0.0.1'); // malformed hop: not believed
    expect(clientAddressOf(req('127.0.0.1', '2001:db8::1'), proxies)).toBe('2001:db8::1');
  });
});
