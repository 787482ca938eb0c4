// Dropbox's content_hash: SHA-256 over the concatenated SHA-256 digests of each 4 MiB
// block of the body (https://www.dropbox.com/developers/reference/content-hash). Fed
// incrementally so an upload or download never holds more than its current chunk.
// Pure computation: no I/O.
import { createHash, type Hash } from 'node:crypto';

/** Dropbox hashes bodies in blocks of this many bytes; upload chunks are multiples of it. */
export const DROPBOX_BLOCK_BYTES = 4 * 1024 * 1024;

export class DropboxContentHasher {
  private readonly overall: Hash = createHash('sha256');
  private block: Hash = createHash('sha256');
  private blockFill = 0;

  update(data: Buffer): this {
    let offset = 0;
    while (offset < data.length) {
      const take = Math.min(DROPBOX_BLOCK_BYTES - this.blockFill, data.length - offset);
      this.block.update(data.subarray(offset, offset + take));
      this.blockFill += take;
      offset += take;
      if (this.blockFill === DROPBOX_BLOCK_BYTES) this.closeBlock();
    }
    return this;
  }

  private closeBlock(): void {
    this.overall.update(this.block.digest());
    this.block = createHash('sha256');
    this.blockFill = 0;
  }

  /** Lower-case hex, as Dropbox reports it. Call once. */
  digest(): string {
    if (this.blockFill > 0) this.closeBlock();
    return this.overall.digest('hex');
  }
}

/** content_hash of a whole buffer. */
export function dropboxContentHash(data: Buffer): string {
  return new DropboxContentHasher().update(data).digest();
}
