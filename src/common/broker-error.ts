import { HttpStatus } from '@nestjs/common';

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'credentials_rejected'
  | 'upstream_unavailable'
  | 'store_unavailable'
  | 'internal';

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: HttpStatus.BAD_REQUEST,
  unauthorized: HttpStatus.UNAUTHORIZED,
  forbidden: HttpStatus.FORBIDDEN,
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  payload_too_large: HttpStatus.PAYLOAD_TOO_LARGE,
  rate_limited: HttpStatus.TOO_MANY_REQUESTS,
  credentials_rejected: HttpStatus.BAD_GATEWAY,
  upstream_unavailable: HttpStatus.SERVICE_UNAVAILABLE,
  store_unavailable: HttpStatus.SERVICE_UNAVAILABLE,
  internal: HttpStatus.INTERNAL_SERVER_ERROR,
};

export interface FieldProblem {
  field: string;
  problems: string[];
}

/**
 * A failure the caller can act on. The code, not the class, decides the HTTP
 * status, so services raise domain errors without knowing about HTTP.
 */
export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: {
      status?: number;
      details?: FieldProblem[];
      retryAfterSeconds?: number;
    } = {},
  ) {
    super(message);
    this.name = 'BrokerError';
  }

  get status(): number {
    return this.options.status ?? STATUS_BY_CODE[this.code];
  }

  static notFound(what: string): BrokerError {
    return new BrokerError('not_found', `${what} not found`);
  }

  static storeUnavailable(): BrokerError {
    return new BrokerError('store_unavailable', 'The store (Redis) is unavailable; try again shortly', {
      retryAfterSeconds: 1,
    });
  }

  static upstreamUnavailable(retryAfterSeconds: number, why: string): BrokerError {
    return new BrokerError('upstream_unavailable', `No valid token, and the upstream is unavailable: ${why}`, {
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
    });
  }
}
