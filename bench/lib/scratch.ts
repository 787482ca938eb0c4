// Scratch storage for the backend: a tmpfs mounted for this run when allowed
// (root), else a temp dir on disk. Says which. Unmounts and removes it at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onExit } from './procs.js';

export interface Scratch {
  dir: string;
  kind: 'tmpfs' | 'tempdir';
  /** Human-readable: "tmpfs 3g at /tmp/..." or why tmpfs was not used. */
  description: string;
  dispose(): void;
}

export function createScratch(sizeBytes: number, allowTmpfs: boolean): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'davcrypt-bench-'));
  let kind: Scratch['kind'] = 'tempdir';
  let description = `temp dir ${dir} (tmpfs not requested)`;
  if (allowTmpfs) {
    const sizeMiB = Math.ceil(sizeBytes / 1024 / 1024);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
    if (r.status === 0) {
      kind = 'tmpfs';
      description = `tmpfs (${sizeMiB} MiB) at ${dir}`;
    } else {
      description = `temp dir ${dir} on disk (mount tmpfs failed: ${(r.stderr || r.error?.message || '').trim()})`;
    }
  }
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    if (kind === 'tmpfs') spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  };
  onExit(dispose);
  return { dir, kind, description, dispose };
}
