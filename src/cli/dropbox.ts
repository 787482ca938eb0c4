// `davcrypt dropbox login`: connects davcrypt to a Dropbox account with OAuth 2 + PKCE
// (app key only, no secret). Prints the authorization URL, reads the code the user
// pastes, trades it for an offline refresh token and stores that in a 0600 token file
// (the mount's `token: file:PATH`). Never prints or logs the tokens.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  dropboxAuthorizationUrl, exchangeDropboxCode, pkcePair, writeDropboxTokenFile, DROPBOX_AUTHORIZE_URL,
} from '../backends/index.js';
import { loadConfig, type DropboxBackendConfig } from '../config/index.js';
import { davError } from '../errors.js';

export const DROPBOX_USAGE = `usage: davcrypt dropbox login [options]

  Connects a Dropbox mount to a Dropbox account: prints a URL to open in a browser,
  reads the code Dropbox shows after "Allow", and stores the refresh token in the
  mount's token file (mode 600). The app key and token file come from the config's
  Dropbox mount (backend: { type: dropbox, app: { key: ... }, token: file:PATH }),
  or from the options below.

options:
  --config FILE      configuration file (default config/default.yaml)
  --mount PATH       which Dropbox mount of the config (when there are several)
  --app-key KEY      app key of your Dropbox app (instead of the config's)
  --token-file PATH  where to store the refresh token (instead of the config's)
  -h, --help         show this help`;

export interface DropboxCliIO {
  stdout: NodeJS.WritableStream;
  input: NodeJS.ReadableStream;
}

/** Runs `dropbox <subcommand>`; returns the exit code. Throws DavcryptErrors. */
export async function runDropbox(args: string[], io: DropboxCliIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      mount: { type: 'string' },
      'app-key': { type: 'string' },
      'token-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(DROPBOX_USAGE + '\n');
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'login') throw davError('DC_ERR_USAGE', `unknown dropbox command ${action ?? '(none)'}\n${DROPBOX_USAGE}`);
  if (rest.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${rest[0]}\n${DROPBOX_USAGE}`);

  let appKey = values['app-key'];
  let tokenFile = values['token-file'];
  let apiBase: string | undefined;
  if (appKey === undefined || tokenFile === undefined) {
    const b = await dropboxMount(values.config ?? defaultConfig, values.mount);
    appKey ??= b.appKey;
    tokenFile ??= b.tokenFile;
    apiBase = b.apiBase;
  }
  if (!appKey) throw davError('DC_ERR_USAGE', 'no app key: give --app-key KEY or app: { key: ... } in the Dropbox mount');
  if (!tokenFile) {
    throw davError('DC_ERR_USAGE', 'no token file: give --token-file PATH or token: file:PATH in the Dropbox mount (env: tokens cannot be written)');
  }

  const { verifier, challenge } = pkcePair();
  io.stdout.write(
    `1. Open this URL in a browser and sign in to the Dropbox account davcrypt should use:\n\n   ${dropboxAuthorizationUrl(appKey, challenge, DROPBOX_AUTHORIZE_URL)}\n\n`
    + '2. Click "Allow"; Dropbox then shows an authorization code.\n3. Paste the code here and press Enter: ',
  );
  const code = await readLine(io.input);
  if (!code) throw davError('DC_ERR_USAGE', 'no authorization code given; nothing was stored');
  const tokens = await exchangeDropboxCode({ appKey, code, verifier, apiBase });
  await writeDropboxTokenFile(tokenFile, tokens.refreshToken);
  io.stdout.write(`\nConnected${tokens.accountId ? ` (account ${tokens.accountId})` : ''}. Stored the refresh token in ${tokenFile} (mode 600).\n`);
  return 0;
}

async function dropboxMount(configFile: string, mountPath: string | undefined): Promise<DropboxBackendConfig> {
  const config = await loadConfig(configFile);
  const mounts = config.mounts.filter((m) => m.backend.type === 'dropbox' && (mountPath === undefined || m.path === mountPath));
  if (mounts.length === 0) {
    throw davError('DC_ERR_USAGE', mountPath === undefined
      ? `${configFile} has no Dropbox mount; give --app-key and --token-file`
      : `${configFile} has no Dropbox mount at ${mountPath}`);
  }
  if (mounts.length > 1) throw davError('DC_ERR_USAGE', `several Dropbox mounts (${mounts.map((m) => m.path).join(', ')}): pick one with --mount PATH`);
  return mounts[0]!.backend as DropboxBackendConfig;
}

function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
    let got = '';
    rl.once('line', (line) => {
      got = line.trim();
      rl.close();
    });
    rl.once('close', () => {
      (input as NodeJS.ReadableStream & { pause?(): void }).pause?.();
      resolve(got);
    });
  });
}
