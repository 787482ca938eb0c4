// A one-line progress bar on stderr for long tool runs (recover, verify, encrypt-all,
// decrypt-all), drawn only when stderr is a terminal and redrawn at most 10 times a
// second. Prints nothing else; never sees file contents or secrets.
import type { ToolProgress } from '../tools/tree-scan.js';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

export interface ProgressBar extends ToolProgress {
  /** Sets the totals once they are known (before, the bar shows counts only). */
  setTotals(files: number, bytes: number): void;
  /** Clears the line. */
  finish(): void;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Undefined when `stream` is not a terminal (then nothing is drawn at all). */
export function createProgressBar(label: string, stream: ProgressStream = process.stderr, now: () => number = Date.now): ProgressBar | undefined {
  if (!stream.isTTY) return undefined;
  let totalFiles: number | undefined;
  let totalBytes: number | undefined;
  let files = 0;
  let bytes = 0;
  let current = '';
  let lastDraw = 0;
  const draw = (force = false) => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    const width = Math.max(40, stream.columns ?? 80);
    let bar = '';
    if (totalBytes !== undefined && totalFiles !== undefined) {
      const fraction = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : totalFiles > 0 ? files / totalFiles : 1;
      const cells = 20;
      const full = Math.round(fraction * cells);
      bar = `[${'#'.repeat(full)}${'.'.repeat(cells - full)}] ${String(Math.floor(fraction * 100)).padStart(3)}% `;
    }
    const counts = `${files}${totalFiles !== undefined ? '/' + totalFiles : ''} files ${human(bytes)}${totalBytes !== undefined ? '/' + human(totalBytes) : ''}`;
    let line = `${label} ${bar}${counts} ${current}`;
    if (line.length > width - 1) line = line.slice(0, width - 2) + '…';
    stream.write(`\r\x1b[K${line}`);
  };
  return {
    setTotals(f, b) {
      totalFiles = f;
      totalBytes = b;
      draw(true);
    },
    fileStarted(path) {
      current = path;
      draw();
    },
    bytes(n) {
      bytes += n;
      draw();
    },
    fileDone() {
      files += 1;
      draw();
    },
    finish() {
      stream.write('\r\x1b[K');
    },
  };
}
