// Transport security at start and at certificate renewal: reads the TLS files
// (certificate, key, optional intermediate chain sent after the certificate) and
// warns when plain HTTP listens beyond loopback, where every request carries the
// password (HTTP Basic) and the files in clear. Reads only the files it is given.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { davError } from '../errors.js';
import type { Logger } from '../logging.js';

export interface TlsFiles {
  cert: string;
  key: string;
  /** PEM intermediate certificates, sent after `cert`. */
  ca?: string;
}

/** The PEM material for the server: chain = certificate then intermediates. Throws DC_ERR_CONFIG naming the file. */
export async function readTlsMaterial(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (key: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw davError('DC_ERR_CONFIG', `server.tls.${key}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = await read('cert', files.cert);
  const key = await read('key', files.key);
  if (!files.ca) return { cert, key };
  const ca = await read('ca', files.ca);
  return { cert: Buffer.concat([cert, cert.at(-1) === 0x0a ? Buffer.alloc(0) : Buffer.from('\n'), ca]), key };
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms; 'localhost' as a name. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
  return v4 !== undefined && isIP(v4) === 4 && v4.startsWith('127.');
}

/** Logs, at every start, the risk of plain HTTP on an address other machines can reach. */
export function warnIfPlainHttp(logger: Logger, host: string, tls: boolean): void {
  if (tls || isLoopback(host)) return;
  logger.warn('plain HTTP on a non-loopback address: every request carries the password (HTTP Basic) and the files unencrypted ' +
    'over the network; set server.tls, or bind to 127.0.0.1 behind a TLS reverse proxy', { host });
}
