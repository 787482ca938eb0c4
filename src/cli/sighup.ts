// SIGHUP for `davcrypt serve`: re-read the TLS certificate, key and chain
// (certificate renewal without a restart). Without a handler Node would end the
// process silently on SIGHUP (e.g. when its terminal closes); with this one it is
// always logged and never fatal: a reload that fails keeps the old certificate.
// Shutdown signals (SIGINT/SIGTERM) are handled elsewhere.
import { publishConfigReload } from '../events.js';
import type { Logger } from '../logging.js';

export interface TlsReloadable {
  reloadTls(): Promise<boolean>;
}

/** Installs the SIGHUP handler; returns a function that removes it. */
export function reloadTlsOnSighup(gateway: TlsReloadable, logger: Logger): () => void {
  let running: Promise<void> | undefined;
  const onHup = () => {
    logger.info('SIGHUP received: reloading the TLS certificate');
    // Two quick signals: the second waits for the first instead of racing it.
    running = (running ?? Promise.resolve()).then(async () => {
      try {
        const reloaded = await gateway.reloadTls();
        if (reloaded) {
          logger.info('TLS certificate reloaded; new connections use it');
          publishConfigReload({ outcome: 'ok', changed: ['server.tls'] }); // ops: audit line
        }
        else logger.info('SIGHUP: no server.tls configured; nothing to reload');
      } catch (err) {
        logger.error('TLS reload failed; the previous certificate stays in use', { error: (err as Error)?.message ?? String(err) });
        publishConfigReload({ outcome: 'failed', code: (err as { code?: string })?.code ?? 'DC_ERR_CONFIG', changed: ['server.tls'] }); // ops
      }
    });
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
