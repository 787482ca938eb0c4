// Dead properties (PROPPATCH) kept in the gateway store: one entry per mount
// under 'prop:<mountId>' mapping backend path → property key → serialized element.
// Updates are atomic per mount (store mutex: across instances on redis://, across the
// processes sharing the file on sqlite://, in-process on memory://). Must not touch the backend.
import type { Keyv } from 'keyv';
import { isSameOrInside } from '../backends/paths.js';
import { createStoreMutex, type DistributedMutex } from '../store-mutex.js';
import { limitExceeded, type ServerLimits } from './limits.js';
import { propKey, type PropName } from './xml.js';
import { mountStateKey, type MountStateId } from '../users/mount-state.js';

export interface DeadProp extends PropName {
  /** The whole property element as the client sent it, namespaces declared. */
  xml: string;
}

type MountProps = Record<string, Record<string, DeadProp>>;

/** Stored dead properties. Methods throw whatever the keyv store throws. */
export class PropStore {
  private readonly mutex: DistributedMutex;

  constructor(private readonly store: Keyv) {
    // 'processes': the worker processes of one gateway (server.workers) share a sqlite file.
    this.mutex = createStoreMutex(store, { sharedBy: 'processes' });
  }

  private key(mountId: MountStateId): string {
    return `prop:${mountStateKey(mountId)}`;
  }

  private async load(mountId: MountStateId): Promise<MountProps> {
    return ((await this.store.get(this.key(mountId))) as MountProps | undefined) ?? {};
  }

  private async update(mountId: MountStateId, fn: (all: MountProps) => boolean): Promise<void> {
    await this.mutex.run(this.key(mountId), async () => {
      const all = await this.load(mountId);
      if (!fn(all)) return;
      if (Object.keys(all).length === 0) await this.store.delete(this.key(mountId));
      else await this.store.set(this.key(mountId), all);
    });
  }

  /** All dead props of a mount, by path (one store read: for a whole PROPFIND). */
  async forMount(mountId: MountStateId): Promise<MountProps> {
    return this.load(mountId);
  }

  /**
   * Applies sets and removes to one path in one atomic step. With `limits`, throws
   * DC_ERR_LIMIT_EXCEEDED (and changes nothing) when the path would hold more dead
   * properties, or more bytes of them, than allowed.
   */
  async apply(mountId: MountStateId, path: string, sets: DeadProp[], removes: PropName[], limits?: PropLimits): Promise<void> {
    await this.update(mountId, (all) => {
      const before = all[path];
      const props = { ...(before ?? {}) };
      for (const r of removes) delete props[propKey(r)];
      for (const s of sets) props[propKey(s)] = s;
      if (limits && sets.length > 0) checkLimits(all, before, props, limits);
      if (Object.keys(props).length === 0) delete all[path];
      else all[path] = props;
      return true;
    });
  }

  /** Copies the props of `from` and everything below it to the matching paths under `to`. */
  async copyTree(mountId: MountStateId, from: string, to: string, shallow = false): Promise<void> {
    await this.update(mountId, (all) => this.transfer(all, from, to, false, shallow));
  }

  /** Moves the props of `from` and everything below it under `to`. */
  async moveTree(mountId: MountStateId, from: string, to: string): Promise<void> {
    await this.update(mountId, (all) => this.transfer(all, from, to, true));
  }

  /** Drops the props of `path` and everything below it. */
  async deleteTree(mountId: MountStateId, path: string): Promise<void> {
    await this.update(mountId, (all) => {
      let changed = false;
      for (const p of Object.keys(all)) if (isSameOrInside(path, p)) { delete all[p]; changed = true; }
      return changed;
    });
  }

  private transfer(all: MountProps, from: string, to: string, remove: boolean, shallow = false): boolean {
    let changed = false;
    for (const p of Object.keys(all)) if (isSameOrInside(to, p)) { delete all[p]; changed = true; }
    for (const p of Object.keys(all)) {
      if (shallow ? p !== from : !isSameOrInside(from, p)) continue;
      const target = to + p.slice(from.length);
      all[target === '' ? '/' : target] = all[p]!;
      if (remove) delete all[p];
      changed = true;
    }
    return changed;
  }
}

type PropLimits = Pick<ServerLimits, 'deadPropsPerResource' | 'deadPropBytesPerResource' | 'deadPropBytesPerMount'>;

function bytesOf(props: Record<string, DeadProp> | undefined): number {
  let bytes = 0;
  for (const p of Object.values(props ?? {})) bytes += Buffer.byteLength(p.xml, 'utf8');
  return bytes;
}

/** Count and byte bounds of one resource's dead properties and of the mount's (checked under the store mutex). */
function checkLimits(all: MountProps, before: Record<string, DeadProp> | undefined, after: Record<string, DeadProp>, limits: PropLimits): void {
  const count = Object.keys(after).length;
  if (count > limits.deadPropsPerResource) {
    throw limitExceeded('deadPropsPerResource', `${count} dead properties on one resource`, limits.deadPropsPerResource);
  }
  const bytes = bytesOf(after);
  if (bytes > limits.deadPropBytesPerResource) {
    throw limitExceeded('deadPropBytesPerResource', `${bytes} bytes of dead properties on one resource`, limits.deadPropBytesPerResource);
  }
  let mountBytes = bytes - bytesOf(before);
  for (const props of Object.values(all)) mountBytes += bytesOf(props);
  if (mountBytes > limits.deadPropBytesPerMount) {
    throw limitExceeded('deadPropBytesPerMount', `${mountBytes} bytes of dead properties in one mount`, limits.deadPropBytesPerMount);
  }
}
