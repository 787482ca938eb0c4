// winston logger factory: human-readable on a terminal, JSON otherwise. Callers
// log structured fields; nothing here may ever receive passwords, keys or
// Authorization headers (the access log takes method, path, status, bytes, ms, user).
//
// Output goes through BatchedConsoleTransport: error and warn lines are written to stderr at
// once; every other line is collected and written to stdout in one write per batch (at most
// FLUSH_MS later, or at once past FLUSH_BYTES). stdout redirected to a file is a synchronous
// write per call in Node, and one write(2) per request was about 5% of a small GET's CPU
// (issue 6). Pending lines are written synchronously when the process exits.
import winston from 'winston';
import TransportStream from 'winston-transport';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Force JSON (true) or text (false); default: JSON unless stdout is a terminal. */
  json?: boolean;
  /** Silence all output (tests). */
  silent?: boolean;
}

const MESSAGE = Symbol.for('message');
const LEVEL = Symbol.for('level');

/** Longest delay of an info/debug line, in ms. */
export const FLUSH_MS = 100;
/** Pending bytes that force a write before FLUSH_MS. */
export const FLUSH_BYTES = 64 * 1024;

interface LineSink {
  write(text: string): unknown;
}

/** A winston transport that batches stdout lines and writes stderr lines at once. */
export class BatchedConsoleTransport extends TransportStream {
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stdout: LineSink;
  private readonly stderr: LineSink;
  private readonly stderrLevels: Set<string>;
  private readonly onExit = () => this.flush();

  constructor(opts: TransportStream.TransportStreamOptions & { stdout?: LineSink; stderr?: LineSink; stderrLevels?: string[] } = {}) {
    super(opts);
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.stderrLevels = new Set(opts.stderrLevels ?? ['error', 'warn']);
    process.on('exit', this.onExit);
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const line = `${String(info[MESSAGE])}\n`;
    if (this.stderrLevels.has(String(info[LEVEL]))) {
      // Keeps the order of what was logged before it, then says what went wrong at once.
      this.flush();
      this.stderr.write(line);
    } else {
      this.pending.push(line);
      this.pendingBytes += line.length;
      if (this.pendingBytes >= FLUSH_BYTES) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
    }
    callback();
  }

  /** Writes every pending line now (one write). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.stdout.write(text);
  }

  override close(): void {
    this.flush();
    process.off('exit', this.onExit);
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const json = options.json ?? !process.stdout.isTTY;
  return winston.createLogger({
    level: options.level ?? process.env.DAVCRYPT_LOG_LEVEL ?? 'info',
    silent: options.silent ?? false,
    format: json
      ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss' }),
          winston.format.printf(({ level, message, timestamp, ...rest }) => {
            const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
            return `${timestamp} ${level} ${message}${extra}`;
          }),
        ),
    transports: [new BatchedConsoleTransport({ stderrLevels: ['error', 'warn'] })],
  });
}
