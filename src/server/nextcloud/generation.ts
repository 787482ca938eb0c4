// The change generation behind the folder ETags of the ownCloud/Nextcloud alias views
// (view.ts), shared by every worker process and gateway instance through the store:
// a change made through any of them moves the folder ETags all of them serve.
//
// Cost model: only an alias request (a sync client) reads the store, once per request.
// A change publishes a new random generation after it ended: at once when it came
// through an alias, otherwise at most once per PUBLISH_DELAY_MS per process (trailing),
// so a burst of plain WebDAV PUTs costs a few store writes a second, not one each.
// A listing that starts before the publish may show the new content under the old
// ETags; the next listing after it shows new ETags, so the client still descends.
import { randomBytes } from 'node:crypto';
import type Keyv from 'keyv';
import type { Logger } from '../../logging.js';

const KEY = 'nextcloud:generation';
/** Longest a change through the plain WebDAV path waits before other workers' sync views see it. */
export const PUBLISH_DELAY_MS = 250;

export class SharedGeneration {
  private timer?: NodeJS.Timeout;
  private publishing?: Promise<void>;
  private closed = false;

  constructor(private readonly store: Keyv, private readonly logger?: Logger, private readonly delayMs = PUBLISH_DELAY_MS) {}

  /**
   * The current generation, for one alias request. A change of this process still waiting to be
   * published is published first, and a publish under way is waited for: a client's listing after
   * its own change, through the same process, always sees it. A store without a generation (first
   * start) gets one. Throws store errors (the request then fails with 503, as any store failure does).
   */
  async read(): Promise<string> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return this.publish();
    }
    await this.publishing?.catch(() => undefined);
    const current = (await this.store.get(KEY)) as string | undefined;
    if (current) return current;
    return this.publish();
  }

  /**
   * After a request that may have changed a mount ended: publish a new generation, at once
   * (`soon`: a sync client's own change, it lists right after) or within PUBLISH_DELAY_MS.
   */
  noteChange(soon: boolean): void {
    if (this.closed) return;
    if (soon) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.publish().catch((err: unknown) => this.failed(err));
      return;
    }
    if (this.timer) return; // the pending publish covers this change too
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.publish().catch((err: unknown) => this.failed(err));
    }, this.delayMs);
  }

  /** A gateway (re)start counts as a change: it cannot know what happened while it was down. */
  async start(): Promise<void> {
    await this.publish();
  }

  /** Publishes what is pending now, then refuses more (shutdown, before the store closes). */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.timer !== undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (pending) await this.publish().catch((err: unknown) => this.failed(err));
    await this.publishing?.catch(() => undefined);
  }

  private async publish(): Promise<string> {
    // Random, then when it was published: folders that exist only in the config report that time
    // as their modification time (view.ts), the same in every worker.
    const next = `${randomBytes(12).toString('base64url')}.${Date.now()}`;
    const write = this.store.set(KEY, next).then(() => undefined);
    this.publishing = write;
    await write;
    return next;
  }

  private failed(err: unknown): void {
    // Sync clients may miss this change until the next one is published; say so.
    this.logger?.warn('could not publish a folder change for sync clients', { error: (err as Error)?.message ?? String(err) });
  }
}
