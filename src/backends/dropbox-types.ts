// The Dropbox API v2 shapes the Dropbox backend reads (files.stone: Metadata, FileMetadata,
// FolderMetadata, ListFolderResult), and the path mapping between backend paths and
// Dropbox paths below the configured root. Types and pure functions only.
import { normalizePath } from './paths.js';

export { foldName } from './paths.js';

export interface DropboxFileMetadata {
  '.tag': 'file';
  name: string;
  id: string;
  path_lower?: string;
  path_display?: string;
  rev: string;
  size: number;
  server_modified: string;
  client_modified: string;
  content_hash?: string;
}

export interface DropboxFolderMetadata {
  '.tag': 'folder';
  name: string;
  id: string;
  path_lower?: string;
  path_display?: string;
}

export type DropboxMetadata = DropboxFileMetadata | DropboxFolderMetadata | { '.tag': 'deleted'; name: string };

export interface DropboxListFolderResult {
  entries: DropboxMetadata[];
  cursor: string;
  has_more: boolean;
}

/** Maps backend paths ('/a/b') to Dropbox paths below `root` ('/davcrypt/alice/a/b'; '' is Dropbox's own root). */
export class DropboxPaths {
  /** '' for the account root, else '/x/y' (no trailing slash). */
  readonly root: string;

  constructor(root: string) {
    const norm = normalizePath(root);
    this.root = norm === '/' ? '' : norm;
  }

  toDropbox(path: string): string {
    return path === '/' ? this.root : this.root + path;
  }

  /** True when the backend path is Dropbox's own root, which get_metadata cannot describe. */
  isAccountRoot(path: string): boolean {
    return path === '/' && this.root === '';
  }
}
