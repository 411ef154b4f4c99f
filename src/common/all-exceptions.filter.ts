import { Catch, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LOGGER, type AppLogger } from './logger';
import { toErrorResponse } from './error-response';

/** The one place errors become HTTP answers: the contract's shape, never a stack trace. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(this.logger, exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }
}

export function sendError(logger: AppLogger, exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, retryAfterSeconds, unexpected } = toErrorResponse(exception);
  if (unexpected) {
    logger.error(
      { requestId: request.id, method: request.method, route: request.routeOptions?.url, err: exception },
      'unexpected error while handling a request',
    );
  }
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  // Cache-Control and the security headers come from setAnswerHeaders, as for every answer.
  reply.status(status).send(body);
}
