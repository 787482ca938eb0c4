// User records in the gateway store: name, identity public key, password
// envelope of the identity private key (docs/DESIGN.md §4), timestamps; plus the list
// of names and "removed" markers, edited under the store mutex (several processes
// may add users at once). Storage only: no passwords, no argon2 here.
import type Keyv from 'keyv';
import type { Envelope } from '../crypto/index.js';
import { sharedStoreMutex, type DistributedMutex } from '../store-mutex.js';

/** What the store keeps per user. */
export interface UserRecord {
  name: string;
  /** Standard base64 of the raw 32-byte X25519 public key of identity `user:NAME`. */
  publicKey: string;
  /** Password envelope of the identity private key. */
  envelope: Envelope;
  /** ISO 8601. */
  created: string;
  /** ISO 8601 of the last change (password); cached logins re-check it. */
  updated: string;
}

const USER = 'user:';
const REMOVED = 'removed:';
const INDEX = 'users';
/** Store mutex serializing record + name-list edits across every process sharing the store. */
export const USERS_MUTEX = 'users';

/**
 * CRUD over the store. Methods throw whatever the store throws (throwOnErrors); put and remove
 * also DC_ERR_INTERNAL when the store mutex is not obtained in time.
 */
export class UserRecords {
  constructor(
    private readonly store: Keyv,
    private readonly mutex: DistributedMutex = sharedStoreMutex(store),
  ) {}

  get(name: string): Promise<UserRecord | undefined> {
    return this.store.get<UserRecord>(USER + name);
  }

  /** Creates or replaces a record, adds the name to the list and clears a removed marker. */
  async put(record: UserRecord): Promise<void> {
    // The name list is read-modify-write: unserialized, two concurrent adds could drop a name.
    await this.mutex.run(USERS_MUTEX, async () => {
      await this.store.set(USER + record.name, record);
      const names = await this.names();
      if (!names.includes(record.name)) await this.store.set(INDEX, [...names, record.name].sort());
      await this.store.delete(REMOVED + record.name);
    });
  }

  /** Deletes a record and leaves a marker so a lost-store adoption never brings the account back. */
  async remove(name: string): Promise<boolean> {
    return this.mutex.run(USERS_MUTEX, async () => {
      const existed = (await this.get(name)) !== undefined;
      await this.store.delete(USER + name);
      await this.store.set(INDEX, (await this.names()).filter((n) => n !== name));
      await this.store.set(REMOVED + name, new Date().toISOString());
      return existed;
    });
  }

  /** True when `user remove` removed this name (and no add since). */
  async wasRemoved(name: string): Promise<boolean> {
    return (await this.store.get(REMOVED + name)) !== undefined;
  }

  async names(): Promise<string[]> {
    return (await this.store.get<string[]>(INDEX)) ?? [];
  }

  async list(): Promise<UserRecord[]> {
    const out: UserRecord[] = [];
    for (const name of await this.names()) {
      const rec = await this.get(name);
      if (rec) out.push(rec);
    }
    return out;
  }
}
