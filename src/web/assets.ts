// Finds the compiled browser scripts. `npm run build` compiles src/web/browser/*.ts
// into dist/web/browser/ beside the server code; when the server itself runs from
// source (tsx, tests), the same dist/ files are used. Each is read once, then kept.
import { readFile } from 'node:fs/promises';

/** The modules the page may load (no other name is ever read from disk). */
export const BROWSER_MODULES = new Set(['app.js', 'share.js', 'dom.js']);

const cache = new Map<string, Buffer>();

/** A module's bytes, or undefined when it has not been built (or is not one of ours). */
export async function loadBrowserScript(name: string): Promise<Buffer | undefined> {
  if (!BROWSER_MODULES.has(name)) return undefined;
  const hit = cache.get(name);
  if (hit) return hit;
  for (const url of [new URL(`./browser/${name}`, import.meta.url), new URL(`../../dist/web/browser/${name}`, import.meta.url)]) {
    const body = await readFile(url).catch(() => undefined);
    if (body) {
      cache.set(name, body);
      return body;
    }
  }
  return undefined;
}
