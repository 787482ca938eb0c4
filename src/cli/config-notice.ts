// Loads the config for a CLI command and says, on one line, which config file, store and
// data folder the command uses, so a command run with another working directory or without
// the gateway's DAVCRYPT_DATA_DIR never silently opens another (new, empty) store. Refuses
// the old layout with stored files inside the data folder (config/legacy-storage.ts).
import { existsSync } from 'node:fs';
import { assertNoLegacyStorage, loadConfig, type Config } from '../config/index.js';
import { davError } from '../errors.js';

/** The store URL without credentials (redis://:secret@host → redis://***@host), for printing. */
export function printableStore(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}

/** The file of a sqlite:// store that does not exist yet, else undefined. */
function missingSqliteFile(config: Config): string | undefined {
  const sqlite = config.store.startsWith('sqlite://') ? config.store.slice('sqlite://'.length) : undefined;
  return sqlite !== undefined && !existsSync(sqlite) ? sqlite : undefined;
}

/** "config FILE, store URL (new: no file there yet), data DIR" for one config. */
export function describeConfig(config: Config): string {
  const fresh = missingSqliteFile(config) ? ' (none there yet: a new, empty store)' : '';
  return `config ${config.source ?? '(built in)'}, store ${printableStore(config.store)}${fresh}, data ${config.dataDir}`;
}

/**
 * loadConfig, then prints `davcrypt: using <describeConfig>` to `out` (stderr for commands whose
 * stdout is parsed) and checks the layout. Only `serve`, `user add` and `recovery reset-password`
 * (after a lost store) may start a new sqlite store (`mayCreateStore`): any other command finding
 * none runs in the wrong folder or without the gateway's DAVCRYPT_DATA_DIR, and would otherwise
 * leave an empty store there. Throws DC_ERR_CONFIG.
 */
export async function loadCommandConfig(file: string, out: { write(text: string): unknown }, opts: { mayCreateStore?: boolean } = {}): Promise<Config> {
  const config = await loadConfig(file);
  out.write(`davcrypt: using ${describeConfig(config)}\n`);
  assertNoLegacyStorage(config);
  const missing = missingSqliteFile(config);
  if (missing && !opts.mayCreateStore) {
    throw davError(
      'DC_ERR_CONFIG',
      `no store at ${missing}: run the command in the folder the gateway runs in, with the same --config and DAVCRYPT_DATA_DIR ` +
        '(a new store is made only by serve, user add and recovery reset-password); nothing was changed',
    );
  }
  return config;
}
