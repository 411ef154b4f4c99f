import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { StoreUnavailableError } from '../store/broker-store';
import { BrokerError, type ErrorCode, type FieldProblem } from './broker-error';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: ErrorCode;
  details?: FieldProblem[];
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
  /** True for failures the caller did not cause; they are logged with their stack. */
  unexpected: boolean;
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
};

/**
 * Nest hands Fastify's own errors (body parsing, limits, content types) to
 * the filter as HttpExceptions; these say what to do instead of what broke.
 */
const MESSAGES_BY_STATUS: Record<number, string> = {
  413: 'Request body is too large: the limit is 64 KB, and 4 MB for POST /v1/clients/batch',
  415: 'Unsupported Content-Type: send application/json',
};

/** Maps anything thrown while handling a request to the contract's error shape. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof BrokerError) {
    return respond(error.status, error.code, error.message, {
      details: error.options.details,
      retryAfterSeconds: error.options.retryAfterSeconds,
    });
  }
  if (error instanceof StoreUnavailableError) {
    const known = BrokerError.storeUnavailable();
    return respond(known.status, known.code, known.message, { retryAfterSeconds: 1 });
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = CODE_BY_STATUS[status] ?? (status < 500 ? 'bad_request' : 'internal');
    let message = status >= 500 ? 'Internal error' : (MESSAGES_BY_STATUS[status] ?? httpExceptionMessage(error));
    // Nest's "Cannot GET /path?query" for an unknown route: the query string may carry a secret, so it is not echoed.
    if (status === 404) message = message.replace(/\?.*$/s, '');
    // A 400 that did not come from validation is a body Fastify could not parse (broken JSON, an empty JSON body).
    const details = status === 400 ? [{ field: 'body', problems: [message] }] : undefined;
    return respond(status, code, message, { details, unexpected: status >= 500 });
  }
  return respond(HttpStatus.INTERNAL_SERVER_ERROR, 'internal', 'Internal error', { unexpected: true });
}

/** An error in the contract's shape for answers made outside Nest (the HTTP parser's refusals). */
export function contractErrorBody(
  status: number,
  code: ErrorCode,
  message: string,
  details?: FieldProblem[],
): ErrorResponse {
  return respond(status, code, message, { details });
}

/**
 * Bounds on what a 400 echoes, so that a 64 KB body of thousands of bad fields
 * gets a short answer; the message names how many fields there were.
 */
export const MAX_DETAILS = 20;
const MAX_PROBLEMS_PER_FIELD = 5;
const MAX_TEXT = 300;
const MAX_MESSAGE = 1_000;

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function capDetails(details: FieldProblem[]): FieldProblem[] {
  return details.slice(0, MAX_DETAILS).map(({ field, problems }) => ({
    field: clip(field, MAX_TEXT),
    problems: problems.slice(0, MAX_PROBLEMS_PER_FIELD).map((problem) => clip(problem, MAX_TEXT)),
  }));
}

function respond(
  status: number,
  code: ErrorCode,
  message: string,
  extra: { details?: FieldProblem[]; retryAfterSeconds?: number; unexpected?: boolean } = {},
): ErrorResponse {
  const error = STATUS_CODES[status] ?? 'Error';
  const body: ErrorBody = { statusCode: status, error, message: clip(message, MAX_MESSAGE), code };
  if (extra.details) body.details = capDetails(extra.details);
  return { status, body, retryAfterSeconds: extra.retryAfterSeconds, unexpected: extra.unexpected ?? false };
}

function httpExceptionMessage(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : error.message;
}
