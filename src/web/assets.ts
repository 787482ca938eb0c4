// Finds the compiled browser script. `npm run build` compiles src/web/browser/*.ts
// into dist/web/browser/ beside the server code; when the server itself runs from
// source (tsx, tests), the same dist/ file is used. Read once, then kept.
import { readFile } from 'node:fs/promises';

const CANDIDATES = [
  new URL('./browser/app.js', import.meta.url),
  new URL('../../dist/web/browser/app.js', import.meta.url),
];

let cached: Promise<Buffer | undefined> | undefined;

/** The script's bytes, or undefined when it has not been built. */
export function loadBrowserScript(): Promise<Buffer | undefined> {
  cached ??= (async () => {
    for (const url of CANDIDATES) {
      const body = await readFile(url).catch(() => undefined);
      if (body) return body;
    }
    return undefined;
  })().then((b) => {
    if (!b) cached = undefined; // built later (tests build on demand): look again next time
    return b;
  });
  return cached;
}
