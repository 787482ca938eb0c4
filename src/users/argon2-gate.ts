// Bounded argon2 work for logins: at most `concurrency` fresh logins run at once
// (argon2 runs on libuv's thread pool, which local file reads share: unbounded, a
// burst of wrong passwords stalls every verified user's GET), at most one per user
// name (parallel guesses at one account queue behind each other), and at most
// `maxQueued` wait; beyond that DC_ERR_BUSY (503, Retry-After). No I/O of its own.
import { availableParallelism } from 'node:os';
import { davError } from '../errors.js';

interface Job {
  user: string;
  start: () => Promise<void>;
}

/** Near the core count, but leaving libuv threads free for file I/O (UV_THREADPOOL_SIZE, default 4). */
export function defaultArgon2Concurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool - 2));
}

export const DEFAULT_ARGON2_QUEUE = 32;

/** DC_ERR_BUSY (503, Retry-After 1 s): the queue of logins waiting for argon2 is full. */
export function busyError(): Error {
  return davError('DC_ERR_BUSY', 'too many logins are being checked; try again shortly', { details: { retryAfterSeconds: 1 } });
}

export class Argon2Gate {
  private active = 0;
  private readonly busyUsers = new Set<string>();
  private readonly queue: Job[] = [];

  constructor(
    readonly concurrency: number = defaultArgon2Concurrency(),
    readonly maxQueued: number = DEFAULT_ARGON2_QUEUE,
  ) {}

  /** Runs `fn` when a slot is free and no other login of `user` runs. Rejects with DC_ERR_BUSY when the queue is full. */
  run<T>(user: string, fn: () => Promise<T>): Promise<T> {
    if (this.full(user)) return Promise.reject(busyError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ user, start: () => fn().then(resolve, reject) });
      this.pump();
    });
  }

  /** True when run(user, ...) would now be refused with DC_ERR_BUSY (the queue is full and no slot is free for `user`). */
  full(user: string): boolean {
    return this.queue.length >= this.maxQueued && !(this.active < this.concurrency && !this.busyUsers.has(user));
  }

  /** Logins running and waiting (tests, metrics). */
  get load(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length };
  }

  private pump(): void {
    while (this.active < this.concurrency) {
      const i = this.queue.findIndex((j) => !this.busyUsers.has(j.user));
      if (i < 0) return;
      const job = this.queue.splice(i, 1)[0]!;
      this.active++;
      this.busyUsers.add(job.user);
      void job.start().finally(() => {
        this.active--;
        this.busyUsers.delete(job.user);
        this.pump();
      });
    }
  }
}
