// Web front helpers: builds the browser script when it is missing or older than its
// source (tests run the server from source, the script must be compiled), and signs in
// over HTTP the way the page's script does. Touches only dist/web/browser/.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Compiles src/web/browser/*.ts into dist/web/browser/ (tsconfig.browser.json) unless up to date. */
export function ensureBrowserBuilt(): void {
  const srcDir = join(ROOT, 'src/web/browser');
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.ts'));
  const stale = sources.some((f) => {
    const out = join(ROOT, 'dist/web/browser', f.replace(/\.ts$/, '.js'));
    try {
      return statSync(out).mtimeMs < statSync(join(srcDir, f)).mtimeMs;
    } catch {
      return true;
    }
  });
  if (stale) execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.browser.json')], { stdio: 'inherit' });
}

export interface WebSession { cookie: string; csrf: string; setCookie: string }

/** Signs in through POST /.well-known/davcrypt/web/login; returns the cookie pair to send back and the CSRF token. */
export async function webSignIn(base: string, user: string, password: string): Promise<WebSession> {
  const res = await fetch(new URL('/.well-known/davcrypt/web/login', base), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const { csrf } = await res.json() as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf, setCookie };
}
