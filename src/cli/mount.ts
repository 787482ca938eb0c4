// `davcrypt mount grant|revoke MOUNT USER`: who holds a shared mount's keys. The
// config's users: list says who MAY use a mount; the keyring says who CAN. Grant
// needs the keys in the clear (a member's password, the recovery password or the
// master key file); revoke needs no password (it rotates to a fresh key).
import { parseArgs } from 'node:util';
import { davError } from '../errors.js';
import { formatMountId, grantMount, revokeMount } from '../users/index.js';
import { openerFromFlags, withCustody, type KeyCliIO } from './recovery.js';

export const MOUNT_USAGE = `usage: davcrypt mount <grant|revoke> MOUNT USER [options]

  mount grant MOUNT USER (--as NAME | --recovery | --master) [--config FILE]
      Wraps every key of the shared mount MOUNT (its path in the config, e.g. /team)
      that the opener holds to USER, so she can read all its files at her next
      login. USER must be listed in the mount's users: in the config (the config
      says who MAY use a mount; the keyring says who CAN). --as NAME: a current
      member's password (stdin); --recovery: the recovery password (stdin);
      --master: the master key file (keys.masterKeyFile). Clears a revocation.

  mount revoke MOUNT USER [--config FILE]
      Removes USER's wraps and identity from the mount's keyring, makes a new
      current key (wrapped to every remaining member, recovery and master) so new
      files are closed to her, and records the revocation in the store so the
      gateway never wraps keys to her again, even while the config still lists her
      (remove her from users: too). Running gateways drop her cached login within
      auth.recheckSeconds. It cannot take back what she already had: files or keys
      she copied, and old files stay under the old keys until
      davcrypt key reencrypt MOUNT rewrites them.

options:
  --config FILE      configuration file (default config/default.yaml)
  -h, --help         show this help`;

/** Runs one `mount` subcommand; returns the exit code. Throws DavcryptErrors. */
export async function runMount(args: string[], io: KeyCliIO, defaultConfig: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      as: { type: 'string' },
      recovery: { type: 'boolean' },
      master: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(MOUNT_USAGE + '\n');
    return 0;
  }
  const [action, mountPath, user, ...rest] = positionals;
  if (action === undefined) {
    io.stdout.write(MOUNT_USAGE + '\n');
    return 2;
  }
  if (action !== 'grant' && action !== 'revoke') throw davError('DC_ERR_USAGE', `unknown mount command ${action ?? '(none)'}\n${MOUNT_USAGE}`);
  if (!mountPath || !user) throw davError('DC_ERR_USAGE', `mount ${action} needs MOUNT and USER\n${MOUNT_USAGE}`);
  if (rest.length > 0) throw davError('DC_ERR_USAGE', `unexpected argument ${rest[0]}\n${MOUNT_USAGE}`);
  if (action === 'revoke') {
    if (values.as !== undefined || values.recovery || values.master) throw davError('DC_ERR_USAGE', 'mount revoke needs no password: drop --as/--recovery/--master');
    return withCustody(values.config ?? defaultConfig, async (ctx) => {
      const r = await revokeMount(ctx, mountPath, user);
      io.stdout.write(
        r.newCurrent
          ? `revoked ${user} from ${formatMountId(r.mountId)}: ${r.removedWraps} wrap${r.removedWraps === 1 ? '' : 's'} removed; new current key ${r.newCurrent}\n`
          : `${user} held no key of ${formatMountId(r.mountId)}; marked revoked (the gateway will not wrap keys to her)\n`,
      );
      if (r.stillInConfig) io.stdout.write(`note: ${user} is still listed in the users: of ${mountPath} in the config; remove her there too\n`);
      io.stdout.write(`old files stay under the old keys (she may have read or copied them); rewrite them with: npx davcrypt key reencrypt ${mountPath}\n`);
      return 0;
    }, false, io.output);
  }
  const { opener } = await openerFromFlags(values, io, true);
  return withCustody(
    values.config ?? defaultConfig,
    async (ctx) => {
      const r = await grantMount(ctx, mountPath, user, opener!(ctx.master));
      io.stdout.write(`granted ${user} on ${formatMountId(r.mountId)}: ${r.added} key${r.added === 1 ? '' : 's'} wrapped to her\n`);
      if (r.notHeld.length > 0) io.stdout.write(`not granted (the opener does not hold them): ${r.notHeld.join(', ')}\n`);
      return 0;
    },
    values.master ?? false,
    io.output,
  );
}
