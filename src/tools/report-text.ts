// Turns tool reports into the lines the CLI prints (stdout) and fixes the exit codes
// of the tools. Pure formatting: no I/O.
import type { ScopeOutcome, UnauthenticatedUse } from './key-scopes.js';
import type { MigrateReport } from './migrate.js';
import type { RecoverReport } from './recover.js';
import { formatDamage } from './salvage.js';
import type { VerifyReport } from './verify.js';

/** Exit codes of recover, verify, encrypt-all and decrypt-all. */
export const EXIT_OK = 0;
/** Could not start or stopped: wrong password, no keyring, storage unreachable, aborted. */
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** Ran to the end, but some files failed, were damaged, were skipped for an unauthenticated key, or changed meanwhile (listed on stdout). */
export const EXIT_INCOMPLETE = 3;

/** "1 file", "2 files": counts in report lines read as English. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function scopeLines(keyrings: ScopeOutcome[]): string[] {
  const lines: string[] = [];
  for (const k of keyrings) {
    if (k.status === 'failed') lines.push(`KEYRING ${k.root}: not opened: ${k.error.code}: ${k.error.message}`);
    else if (k.status === 'opened') {
      if (k.unauthenticatedCount > 0) {
        lines.push(
          `KEYRING ${k.root}: ${plural(k.unauthenticatedCount, 'key')} opened but ` +
            `${k.unauthenticatedCount === 1 ? 'is' : 'are'} not authenticated for this identity (no valid keyring tag: planted, or format 1)`,
        );
      }
      if (!k.holdsCurrent) lines.push(`KEYRING ${k.root}: opened, but this identity does not hold the current key authenticated (newer files may fail)`);
    }
  }
  return lines;
}

function unauthenticatedLines(list: UnauthenticatedUse[]): string[] {
  return list.map((u) =>
    u.used
      ? `UNAUTHENTICATED ${u.path}\t${u.keyId}\tdecrypted anyway (--trust-unauthenticated): nothing proves the key is not planted`
      : `UNAUTHENTICATED ${u.path}\t${u.keyId}\tskipped: its key opened, but no keyring tag of this identity vouches for it (--trust-unauthenticated uses it)`,
  );
}

const skippedCount = (list: UnauthenticatedUse[]) => list.filter((u) => !u.used).length;

const NO_KEYRING = 'NOTE no .davcrypt/keyring.json found at the start folder or below: point --from at a mount root';

export function recoverLines(r: RecoverReport): string[] {
  const lines = scopeLines(r.keyrings);
  if (r.keyrings.length === 0) lines.unshift(NO_KEYRING);
  for (const f of r.failed) lines.push(`FAILED ${f.path}\t${f.code}\t${f.message}`);
  lines.push(...unauthenticatedLines(r.unauthenticated));
  for (const s of r.salvaged) {
    for (const d of formatDamage(s.damage)) lines.push(`DAMAGED ${s.path}\t${d}\t(zero-filled; see ${s.reportFile})`);
  }
  lines.push(
    `recover: ${plural(r.files, 'file')}: ${r.decrypted} decrypted, ${r.copied} copied as plaintext, ` +
      `${r.salvaged.length} salvaged with holes, ${r.failed.length} failed` +
      (r.unauthenticated.length > 0 ? `, ${skippedCount(r.unauthenticated)} skipped (unauthenticated key)` : ''),
  );
  return lines;
}

export function verifyLines(r: VerifyReport): string[] {
  const lines = scopeLines(r.keyrings);
  if (r.keyrings.length === 0 && r.verified + r.failed.length > 0) lines.unshift(NO_KEYRING);
  for (const f of r.failed) lines.push(`FAILED ${f.path}\t${f.code}\t${f.message}`);
  lines.push(...unauthenticatedLines(r.unauthenticated));
  lines.push(
    `verify: ${plural(r.files, 'file')}: ${r.verified} verified, ${r.plaintext} not encrypted, ${r.failed.length} failed` +
      (r.unauthenticated.length > 0 ? `, ${skippedCount(r.unauthenticated)} skipped (unauthenticated key)` : ''),
  );
  return lines;
}

export function migrateLines(command: string, r: MigrateReport): string[] {
  const lines: string[] = [];
  for (const p of r.nestedMounts) lines.push(`SKIPPED ${p}/\t(another mount's keyring is there; not touched)`);
  for (const p of r.changed) lines.push(`CHANGED ${p}\t(modified during conversion; left as it is, run again)`);
  for (const f of r.failed) lines.push(`FAILED ${f.path}\t${f.code}\t${f.message}`);
  lines.push(
    `${command}: ${plural(r.files, 'file')}: ${r.converted} converted, ${r.skipped} already done, ` +
      `${r.changed.length} changed meanwhile, ${r.failed.length} failed` +
      (r.staleTempsRemoved ? `; removed ${r.staleTempsRemoved} leftover temp ${r.staleTempsRemoved === 1 ? 'copy' : 'copies'} of an interrupted run` : ''),
  );
  return lines;
}
