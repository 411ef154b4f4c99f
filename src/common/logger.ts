import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/config';

export const LOGGER = Symbol('LOGGER');
export type AppLogger = Logger;

/**
 * Field names whose values are never written, wherever they sit in a log
 * object. Secrets are kept out of log calls in the first place; this is the
 * net under that rule.
 */
const REDACTED_KEYS = [
  'clientSecret',
  'client_secret',
  'apiKey',
  'api_key',
  'accessToken',
  'access_token',
  'token',
  'key',
  'secret',
  'password',
  'sentinelPassword',
  'authorization',
  'sealedSecret',
  'sealedAccessToken',
  'privateKey',
  'clientCertificate',
  'sealedPrivateKey',
  'sealedCertificate',
  'client_assertion',
  'clientAssertion',
  'rejectedToken',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): AppLogger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      level,
      base: { service: 'token-broker' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Lets Nest's own messages come out as the same JSON lines. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: AppLogger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
