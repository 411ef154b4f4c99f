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

/**
 * What went wrong, as the code that raises it says it. Each kind has one
 * fixed HTTP status and the wire `code` SPEC.md gives it: two kinds may share
 * a code (a rotation the upstream refuses is 422, a token it refuses 502, both
 * `credentials_rejected`), never a kind two statuses.
 */
export type ErrorKind = ErrorCode | 'rotation_rejected';

export const ERROR_KINDS: Record<ErrorKind, { status: number; code: ErrorCode }> = {
  bad_request: { status: HttpStatus.BAD_REQUEST, code: 'bad_request' },
  unauthorized: { status: HttpStatus.UNAUTHORIZED, code: 'unauthorized' },
  forbidden: { status: HttpStatus.FORBIDDEN, code: 'forbidden' },
  not_found: { status: HttpStatus.NOT_FOUND, code: 'not_found' },
  conflict: { status: HttpStatus.CONFLICT, code: 'conflict' },
  payload_too_large: { status: HttpStatus.PAYLOAD_TOO_LARGE, code: 'payload_too_large' },
  rotation_rejected: { status: HttpStatus.UNPROCESSABLE_ENTITY, code: 'credentials_rejected' },
  rate_limited: { status: HttpStatus.TOO_MANY_REQUESTS, code: 'rate_limited' },
  credentials_rejected: { status: HttpStatus.BAD_GATEWAY, code: 'credentials_rejected' },
  upstream_unavailable: { status: HttpStatus.SERVICE_UNAVAILABLE, code: 'upstream_unavailable' },
  store_unavailable: { status: HttpStatus.SERVICE_UNAVAILABLE, code: 'store_unavailable' },
  internal: { status: HttpStatus.INTERNAL_SERVER_ERROR, code: 'internal' },
};

export interface FieldProblem {
  field: string;
  problems: string[];
}

/**
 * A failure the caller can act on. The kind, not the class or the caller,
 * decides the HTTP status and the wire code (ERROR_KINDS), so services raise
 * domain errors without knowing about HTTP.
 */
export class BrokerError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly options: {
      details?: FieldProblem[];
      retryAfterSeconds?: number;
    } = {},
  ) {
    super(message);
    this.name = 'BrokerError';
  }

  get status(): number {
    return ERROR_KINDS[this.kind].status;
  }

  get code(): ErrorCode {
    return ERROR_KINDS[this.kind].code;
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
