// Loads the config for a CLI command and says, on one line, which config file, store and
// data folder the command uses, so a command run with another working directory or without
// the gateway's DAVCRYPT_DATA_DIR never silently opens another (new, empty) store. Refuses
// the old layout with stored files inside the data folder (config/legacy-storage.ts).
import { existsSync } from 'node:fs';
import { assertNoLegacyStorage, loadConfig, type Config } from '../config/index.js';

/** The store URL without credentials (redis://:secret@host → redis://***@host), for printing. */
export function printableStore(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}

/** "config FILE, store URL (new: no file there yet), data DIR" for one config. */
export function describeConfig(config: Config): string {
  const sqlite = config.store.startsWith('sqlite://') ? config.store.slice('sqlite://'.length) : undefined;
  const fresh = sqlite !== undefined && !existsSync(sqlite) ? ' (none there yet: a new, empty store)' : '';
  return `config ${config.source ?? '(built in)'}, store ${printableStore(config.store)}${fresh}, data ${config.dataDir}`;
}

/**
 * loadConfig, then prints `davcrypt: using <describeConfig>` to `out` (stderr for commands whose
 * stdout is parsed) and checks the layout. Throws DC_ERR_CONFIG.
 */
export async function loadCommandConfig(file: string, out: { write(text: string): unknown }): Promise<Config> {
  const config = await loadConfig(file);
  out.write(`davcrypt: using ${describeConfig(config)}\n`);
  assertNoLegacyStorage(config);
  return config;
}
