// Temporary folders under os.tmpdir() for tests, removed by the returned cleanup.
// Touches nothing outside the folder it creates.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  cleanup(): Promise<void>;
}

/** Creates a fresh empty folder `<tmpdir>/davcrypt-<label>-XXXXXX`. */
export async function makeTempDir(label = 'test'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `davcrypt-${label}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
