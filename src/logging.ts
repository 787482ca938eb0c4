// winston logger factory: human-readable on a terminal, JSON otherwise. Callers
// log structured fields; nothing here may ever receive passwords, keys or
// Authorization headers (the access log takes method, path, status, bytes, ms, user).
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Force JSON (true) or text (false); default: JSON unless stdout is a terminal. */
  json?: boolean;
  /** Silence all output (tests). */
  silent?: boolean;
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
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
