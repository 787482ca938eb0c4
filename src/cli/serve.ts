// `davcrypt serve`: load the config, start the gateway, close it gracefully on
// SIGINT/SIGTERM. Everything else lives in app.ts.
import { parseArgs } from 'node:util';
import { startGateway } from '../app.js';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../logging.js';
import { reloadTlsOnSighup } from './sighup.js';

export const SERVE_USAGE = `usage: davcrypt serve [--config FILE]

Starts the WebDAV gateway. On the first start with no users it creates
\`admin\` and prints its password once (DAVCRYPT_ADMIN_PASSWORD sets it).

options:
  --config FILE      configuration file (default config/default.yaml)
  -h, --help         show this help

environment: DAVCRYPT_PORT, DAVCRYPT_HOST, DAVCRYPT_DATA_DIR, DAVCRYPT_STORE override the config;
DAVCRYPT_LOG_LEVEL sets the log level.`;

/** Runs until a signal arrives; resolves after a graceful close. Throws startup errors. */
export async function runServe(args: string[], stdout: NodeJS.WritableStream, defaultConfig: string): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    stdout.write(SERVE_USAGE + '\n');
    return;
  }
  const config = await loadConfig(values.config ?? defaultConfig);
  const logger = createLogger({ level: process.env.DAVCRYPT_LOG_LEVEL ?? config.log.level, json: config.log.json });
  const gateway = await startGateway(config, { logger });
  reloadTlsOnSighup(gateway, logger);
  stdout.write(`davcrypt listening on ${gateway.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      logger.info('shutting down', { signal });
      void gateway.close().then(resolve, (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        resolve();
      });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
