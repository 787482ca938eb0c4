// Account management (user add/passwd/remove/list). `user add` may take over an
// identity found in one of her keyrings (home first, then shared mounts), but only
// when the operator's password opens it; serving never creates an account (the
// backend is not trusted). Seals and opens password envelopes (argon2id); never
// keeps a password or private key beyond the call.
import {
  generateIdentityKeyPair,
  openIdentity,
  publicKeyFromPrivate,
  sealIdentity,
  type Argon2Params,
  type KeyringIdentity,
} from '../crypto/index.js';
import { davError, isDavcryptError } from '../errors.js';
import { formatMountId, type KeyringService, type MountId } from '../keys/index.js';
import type { Logger } from '../logging.js';
import type { MountBackends } from './mount-backends.js';
import { assertValidUserName, userIdentity } from './names.js';
import type { UserRecord, UserRecords } from './records.js';
import { timingSafeEqual } from 'node:crypto';
import { publishAccount } from '../events.js';

export interface AccountServiceOptions {
  records: UserRecords;
  keyrings: KeyringService;
  backends: MountBackends;
  argon2: Argon2Params;
  logger: Logger;
}

/** An identity already present in a user's home keyring, and where it was found. */
export interface ExistingIdentity {
  identity: KeyringIdentity;
  source: 'store' | 'backend';
  mountId: MountId;
}

export interface AddResult {
  /** True when an existing identity (home keyring) was taken over instead of a new one made. */
  adopted: boolean;
}

export class AccountService {
  readonly records: UserRecords;
  private readonly keyrings: KeyringService;
  private readonly backends: MountBackends;
  private readonly argon2: Argon2Params;
  private readonly logger: Logger;

  constructor(options: AccountServiceOptions) {
    this.records = options.records;
    this.keyrings = options.keyrings;
    this.backends = options.backends;
    this.argon2 = options.argon2;
    this.logger = options.logger;
  }

  /**
   * Creates an account. When the home keyring already holds `user:NAME` (store or backend copy),
   * adopts that identity if the password opens its envelope. Throws DC_ERR_USAGE (bad name or empty
   * password), DC_ERR_EXISTS (account exists), DC_ERR_WRONG_PASSWORD (existing identity not opened:
   * nothing is changed). `adopt: false` never looks for an existing identity (the initial admin:
   * a planted keyring must neither become the admin nor block its creation).
   */
  async add(name: string, password: string, options: { adopt?: boolean } = {}): Promise<AddResult> {
    assertValidUserName(name);
    assertPassword(password);
    if (await this.records.get(name)) throw davError('DC_ERR_EXISTS', `user ${name} already exists; use user passwd to change the password`);
    // Only the public key and the envelope the password just opened are taken over; wraps and keys
    // of that keyring are for the keyring service to trust or not.
    const existing = options.adopt === false ? undefined : await this.findExistingIdentity(name);
    if (existing) {
      await this.openExisting(name, existing, password).catch((err: unknown) => {
        if (isDavcryptError(err, 'DC_ERR_WRONG_PASSWORD')) {
          throw davError(
            'DC_ERR_WRONG_PASSWORD',
            `the home keyring of ${name} (${formatMountId(existing.mountId)}, ${existing.source} copy) already holds identity ${userIdentity(name)} and this password does not open it; ` +
              `give the password it was created with, or move the old files and keyring away first. Nothing was changed`,
            { cause: err },
          );
        }
        throw err;
      });
      const now = new Date().toISOString();
      await this.records.put({ name, publicKey: existing.identity.publicKey, envelope: existing.identity.envelope!, created: now, updated: now });
      this.logger.info('user added, adopting the identity in the home keyring', { user: name, source: existing.source });
      publishAccount({ operation: 'adopt', user: name, source: existing.source }); // ops
      return { adopted: true };
    }
    const pair = generateIdentityKeyPair();
    try {
      const envelope = await sealIdentity(pair.privateKey, userIdentity(name), password, this.argon2);
      const now = new Date().toISOString();
      await this.records.put({ name, publicKey: pair.publicKey.toString('base64'), envelope, created: now, updated: now });
    } finally {
      pair.privateKey.fill(0);
    }
    this.logger.info('user added', { user: name });
    publishAccount({ operation: 'add', user: name }); // ops
    return { adopted: false };
  }

  /**
   * Changes a password: opens the identity with the current password and seals it again under the
   * new one, in the user record and in every keyring of her mounts that holds her identity (files
   * and keys stay as they are). Returns the ids of the keyrings rewritten. Throws DC_ERR_NOT_FOUND,
   * DC_ERR_WRONG_PASSWORD (current password), DC_ERR_USAGE (empty new password), store/backend errors.
   */
  async passwd(name: string, currentPassword: string, newPassword: string): Promise<MountId[]> {
    assertValidUserName(name);
    assertPassword(newPassword);
    const record = await this.records.get(name);
    if (!record) throw davError('DC_ERR_NOT_FOUND', `no user ${name}; see user list`);
    const identity = userIdentity(name);
    const privateKey = await openIdentity(record.envelope, identity, currentPassword);
    let envelope;
    try {
      envelope = await sealIdentity(privateKey, identity, newPassword, this.argon2);
    } finally {
      privateKey.fill(0);
    }
    const updated: UserRecord = { ...record, envelope, updated: new Date().toISOString() };
    await this.records.put(updated);
    const rewritten: MountId[] = [];
    for (const mount of this.backends.mountsFor(name)) {
      if (!mount.encrypt) continue;
      const mountId = this.backends.mountId(mount, name);
      const backend = await this.backends.rawBackend(mount, name);
      const info = { name: identity, publicKey: Buffer.from(record.publicKey, 'base64'), envelope };
      if (await this.keyrings.updateIdentityEnvelope(mountId, backend, info)) rewritten.push(mountId);
    }
    this.logger.info('password changed', { user: name, keyrings: rewritten.map(formatMountId) });
    return rewritten;
  }

  /** Removes the account (files and keyrings stay on the backend). Throws DC_ERR_NOT_FOUND. */
  async remove(name: string): Promise<void> {
    assertValidUserName(name);
    if (!(await this.records.remove(name))) throw davError('DC_ERR_NOT_FOUND', `no user ${name}; see user list`);
    this.logger.info('user removed (files kept)', { user: name });
  }

  list(): Promise<UserRecord[]> {
    return this.records.list();
  }

  /** `user:NAME` in one of her keyrings (home first, then shared mounts): the store copy, else the backend copy. */
  async findExistingIdentity(name: string): Promise<ExistingIdentity | undefined> {
    // Home first; a user who only has shared mounts (no `{user}` mount) is found in their keyrings.
    const home = this.backends.homeMount(name);
    const candidates = [...(home ? [home] : []), ...this.backends.mountsFor(name).filter((m) => m !== home)].filter((m) => m.encrypt);
    const identity = userIdentity(name);
    for (const mount of candidates) {
      const mountId = this.backends.mountId(mount, name);
      const stored = await this.keyrings.getStored(mountId);
      const inStore = stored?.identities[identity];
      if (inStore?.envelope) return { identity: inStore, source: 'store', mountId };
      // The trusted store copy holds only identities the gateway vouched for; her entry may be on the backend only.
      // A look-up for a name nobody has authenticated as yet: open nothing that stays open or creates folders.
      const backend = await this.backends.probe(mount, name);
      if (!backend) continue;
      let remote;
      try {
        remote = await this.keyrings.readBackendCopy(backend);
      } finally {
        await backend.close();
      }
      const found = remote?.identities[identity];
      if (found?.envelope) return { identity: found, source: 'backend', mountId };
    }
    return undefined;
  }

  private async openExisting(name: string, existing: ExistingIdentity, password: string): Promise<Buffer> {
    const privateKey = await openIdentity(existing.identity.envelope!, userIdentity(name), password);
    assertKeyPair(privateKey, existing.identity.publicKey, userIdentity(name));
    return privateKey;
  }
}

/** Checks that an opened private key belongs to the recorded public key (wipes it and throws DC_ERR_KEYRING_INVALID if not). */
export function assertKeyPair(privateKey: Buffer, publicKeyB64: string, identity: string): void {
  const expected = Buffer.from(publicKeyB64, 'base64');
  const actual = publicKeyFromPrivate(privateKey);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    privateKey.fill(0);
    throw davError('DC_ERR_KEYRING_INVALID', `identity ${identity}: envelope does not match its public key`);
  }
}

function assertPassword(password: string): void {
  if (password.length === 0) throw davError('DC_ERR_USAGE', 'the password must not be empty');
}
