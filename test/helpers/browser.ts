// Debian's chromium driven by playwright-core, headless, for the web page tests.
// Flags keep it off the network (closed here); playwright's launch() gives every run
// a fresh temporary profile (it refuses --user-data-dir) and removes it at close.
// Screenshots go to test-results/web/ (gitignored). Touches nothing else.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-results/web');

/** Why the browser tests cannot run here, or undefined. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not installed (apt-get install chromium)`;
}

export interface TestBrowser {
  /** A fresh context: no cookies, no storage (a recipient without an account). */
  context(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    context: () => browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 700 } }),
    close: () => browser.close(),
  };
}
