// Key material as the rest of the gateway sees it once a keyring is unlocked.
// Nothing here is ever persisted in the clear (see docs/DESIGN.md §4). It lives in
// crypto/ because the cipher consumes it; keys/ re-exports it for its callers.

/** One mount key: 16-byte random id and 32-byte secret. */
export interface MountKey {
  id: Buffer;
  key: Buffer;
}

/** The unlocked keys of one mount: the current key encrypts new files; older ones still decrypt. */
export interface MountKeySet {
  readonly current: MountKey;
  /** Looks a key up by its 16-byte id (as bytes or 32 lowercase hex chars); undefined if not held. */
  get(id: Buffer | string): MountKey | undefined;
}
