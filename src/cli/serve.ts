// `davcrypt serve`: load the config, start the gateway, close it gracefully on
// SIGINT/SIGTERM. Everything else lives in app.ts.
import { parseArgs } from 'node:util';
import { startGateway } from '../app.js';
import { timeoutsOf } from '../config/index.js';
import { createLogger } from '../logging.js';
import { reloadTlsOnSighup } from './sighup.js';
import { loadCommandConfig } from './config-notice.js';
import { canForkServe, installWorkerSignals, isServeWorker, leaveCluster, reportWorkerReady, runServePrimary, serveWorkerCount, singleWorkerReason } from './serve-cluster.js';

export const SERVE_USAGE = `usage: davcrypt serve [--config FILE] [--strict]

Starts the WebDAV gateway. On the first start with no users it creates
\`admin\` and prints its password once (DAVCRYPT_ADMIN_PASSWORD sets it).
SIGTERM or SIGINT stop it gracefully: no new connections, requests in flight
finish for up to timeouts.shutdownSeconds (default 30), then the store closes.

options:
  --config FILE      configuration file (default config/default.yaml)
  --strict           refuse to start when a mount's storage cannot be reached or
                     misses its base folder (default: a warning naming it)
  -h, --help         show this help

server.workers (default auto: one per core; 1 with a memory:// store) runs that many gateway
processes on the port.

It prints the config file, store, data folder and where each mount stores its files.
Config changes take effect at the next start (stop it with Ctrl-C or SIGTERM).

environment: DAVCRYPT_PORT, DAVCRYPT_HOST, DAVCRYPT_DATA_DIR (the state folder, not the stored
files), DAVCRYPT_STORE, DAVCRYPT_WORKERS override the config;
DAVCRYPT_LOG_LEVEL sets the log level.`;

/** Runs until a signal arrives; resolves after a graceful close. Throws startup errors. */
export async function runServe(args: string[], stdout: NodeJS.WritableStream, defaultConfig: string): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    stdout.write(SERVE_USAGE + '\n');
    return;
  }
  // server.workers: a forked worker leaves the start-up notices to the primary (serve-cluster.ts).
  const worker = isServeWorker();
  if (worker) installWorkerSignals();
  const notices = worker ? { write: () => true } as unknown as NodeJS.WritableStream : stdout;
  const config = await loadCommandConfig(values.config ?? defaultConfig, notices, { mayCreateStore: true });
  for (const m of config.mounts) {
    notices.write(`davcrypt: mount ${m.path} stores in ${m.backend.type === 'webdav' ? m.backend.url : m.backend.type === 'dropbox' ? 'dropbox:' + m.backend.root : m.backend.root}${m.encrypt ? '' : ' (not encrypted)'}\n`);
  }
  const logger = createLogger({ level: process.env.DAVCRYPT_LOG_LEVEL ?? config.log.level, json: config.log.json });
  const workers = worker ? 1 : serveWorkerCount(config);
  const single = worker ? undefined : singleWorkerReason(config);
  if (single) notices.write(`davcrypt: ${single}\n`);
  if (workers > 1 && canForkServe()) return runServePrimary(config, workers, { stdout, logger });
  const gateway = await startGateway(config, { logger, strict: values.strict === true, clusterWorker: worker });
  reloadTlsOnSighup(gateway, logger);
  stdout.write(`davcrypt listening on ${gateway.url}\n`);
  if (worker) reportWorkerReady(gateway.url);
  const graceMs = timeoutsOf(config).shutdownSeconds * 1000;
  await new Promise<void>((resolve) => {
    let stoppingSince: number | undefined;
    const stop = (signal: string) => {
      if (stoppingSince !== undefined) {
        // Ctrl-C under `npm start` arrives twice at once (terminal + npm forwarding it): only a
        // later second signal means "now".
        if (Date.now() - stoppingSince < 1_000) return;
        logger.warn('second signal: exiting without waiting for requests in flight', { signal });
        process.exit(1);
      }
      stoppingSince = Date.now();
      logger.info('shutting down', { signal, graceSeconds: graceMs / 1000 });
      void gateway.close(graceMs).then(() => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        logger.info('stopped', { signal });
        resolve();
      }, (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        resolve();
      });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  if (worker) leaveCluster();
}
