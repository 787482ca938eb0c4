// `davcrypt check-config [--config FILE]`: validates a configuration and probes what it
// names (data folder, TLS files, master key file, audit file, store, every mount's
// backend) without starting the gateway, one line per check, for people and scripts:
// exit 0 when every check passed, 1 otherwise, 2 for usage errors. Creates nothing:
// a store or folder that does not exist yet passes when it can be created.
import { constants, existsSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, masterKeyFileOf } from '../config/index.js';
import type { Config } from '../config/types.js';
import { davError } from '../errors.js';
import { readMasterKeyFile } from '../keys/index.js';
import { backendProbes, runProbe, storeProbe, type HealthProbe } from '../ops/index.js';
import { closeStore, createStore } from '../store.js';

export const CHECK_CONFIG_USAGE = `usage: davcrypt check-config [--config FILE] [--timeout SECONDS]

Checks a configuration without starting the gateway: validates the file, then
probes the data folder, TLS files, master key file, audit file, the store and
the backend of every mount (the same probes as /readyz). Prints one line per
check, "ok" or "FAIL", and exits 0 when all passed, 1 when any failed.

options:
  --config FILE      configuration file (default config/default.yaml)
  --timeout SECONDS  deadline of each network probe (default 5)
  -h, --help         show this help`;

export interface CheckConfigIO {
  stdout: NodeJS.WritableStream;
}

interface Check {
  name: string;
  run(): Promise<string | void>;
}

/** Runs the checks; resolves to the exit code. Throws DC_ERR_USAGE for bad arguments. */
export async function runCheckConfig(args: string[], io: CheckConfigIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout.write(CHECK_CONFIG_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${positionals[0]}\n${CHECK_CONFIG_USAGE}`);
  const timeoutSeconds = values.timeout === undefined ? 5 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw davError('DC_ERR_USAGE', '--timeout needs a positive number of seconds');
  const timeoutMs = Math.round(timeoutSeconds * 1000);

  const file = values.config ?? defaultConfig;
  let config: Config;
  try {
    config = await loadConfig(file);
  } catch (err) {
    const message = (err as Error).message.replace(/\n/g, '\n      ');
    io.stdout.write(`FAIL  config ${file}: ${(err as { code?: string }).code ?? 'error'}: ${message}\n`);
    return 1;
  }
  io.stdout.write(`ok    config ${config.source ?? file}\n`);

  const checks: Check[] = [
    { name: `dataDir ${config.dataDir}`, run: () => writableOrCreatable(config.dataDir, 'folder') },
  ];
  if (config.server.tls) {
    const tls = config.server.tls;
    checks.push({
      name: `server.tls ${tls.cert}`,
      async run() {
        const { readFile } = await import('node:fs/promises');
        // Loads both PEMs the way the server does; a key that does not match the certificate fails here.
        createSecureContext({ cert: await readFile(tls.cert), key: await readFile(tls.key) });
      },
    });
  }
  if (config.keys.mode === 'master') {
    const keyFile = masterKeyFileOf(config);
    checks.push({
      name: `keys.masterKeyFile ${keyFile}`,
      async run() {
        const key = await readMasterKeyFile(keyFile);
        key.privateKey.fill(0);
      },
    });
  }
  if (config.audit && 'file' in config.audit) {
    const auditFile = config.audit.file;
    checks.push({ name: `audit.file ${auditFile}`, run: () => writableOrCreatable(auditFile, 'file') });
  }
  checks.push({ name: `store ${shownStore(config.store)}`, run: () => checkStore(config.store, timeoutMs) });
  for (const probe of backendProbes(config.mounts)) {
    checks.push({ name: probe.name, run: () => runAndClose(probe, timeoutMs) });
  }

  let failed = 0;
  for (const check of checks) {
    const started = Date.now();
    try {
      const note = await check.run();
      io.stdout.write(`ok    ${check.name}${note ? ` (${note})` : ''} ${Date.now() - started} ms\n`);
    } catch (err) {
      failed++;
      const code = (err as { code?: unknown }).code;
      io.stdout.write(`FAIL  ${check.name}: ${typeof code === 'string' ? `${code}: ` : ''}${oneLine((err as Error)?.message ?? String(err))}\n`);
    }
  }
  const total = checks.length + 1;
  io.stdout.write(failed === 0 ? `all ${total} checks passed\n` : `${failed} of ${total} checks failed\n`);
  return failed === 0 ? 0 : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').slice(0, 500);
}

/** The store URL without credentials (redis://user:pass@host). */
function shownStore(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

async function runAndClose(probe: HealthProbe, timeoutMs: number): Promise<void> {
  try {
    const r = await runProbe(probe, timeoutMs);
    // Not a DavcryptError on purpose: `code` carries the probe's reason (timeout, ECONNREFUSED or a
    // DC_ERR_* code) to the FAIL line printed by checkConfig, and never leaves this module.
    if (!r.ok) throw Object.assign(new Error(r.detail ?? r.reason ?? 'failed'), { code: r.reason });
  } finally {
    await probe.close?.();
  }
}

/** Opens the store and reads one key. A sqlite file that does not exist yet is not created: its folder must be writable. */
async function checkStore(url: string, timeoutMs: number): Promise<string | void> {
  if (url.startsWith('sqlite://')) {
    const file = url.slice('sqlite://'.length);
    if (!existsSync(file)) {
      await writableOrCreatable(dirname(file), 'folder');
      return 'does not exist yet; will be created';
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const opening = createStore(url);
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(davError('DC_ERR_CONFIG', `store: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const store = await Promise.race([opening, deadline]);
    try {
      const r = await runProbe(storeProbe(store), timeoutMs);
      if (!r.ok) throw Object.assign(new Error(r.detail ?? 'store did not answer'), { code: r.reason });
    } finally {
      await closeStore(store).catch(() => undefined);
    }
  } finally {
    clearTimeout(timer);
    // A store that opened after the deadline is closed too.
    opening.then((s) => closeStore(s), () => undefined).catch(() => undefined);
  }
}

/**
 * An existing path must be of the given kind and writable; a missing one needs its nearest
 * existing ancestor to be a writable folder (the gateway creates the rest).
 */
async function writableOrCreatable(path: string, kind: 'file' | 'folder'): Promise<string | void> {
  const found = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (found) {
    if (kind === 'folder' && !found.isDirectory()) throw davError('DC_ERR_CONFIG', `${path} exists and is not a folder`);
    if (kind === 'file' && !found.isFile()) throw davError('DC_ERR_CONFIG', `${path} exists and is not a file`);
    await access(path, constants.W_OK | (kind === 'folder' ? constants.X_OK : 0));
    return;
  }
  let dir = dirname(path);
  for (;;) {
    const st = await stat(dir).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) throw davError('DC_ERR_CONFIG', `${dir} is not a folder, so ${path} cannot be created`);
      await access(dir, constants.W_OK | constants.X_OK).catch((err: unknown) => {
        throw davError('DC_ERR_CONFIG', `${path} does not exist and ${dir} is not writable: ${(err as Error).message}`);
      });
      return 'does not exist yet; will be created';
    }
    if (dirname(dir) === dir) throw davError('DC_ERR_CONFIG', `no existing folder above ${path}`);
    dir = dirname(dir);
  }
}
