import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthService } from '../auth/auth.service';
import type { Principal } from '../auth/principal';
import { sendError } from '../common/all-exceptions.filter';
import { BrokerError } from '../common/broker-error';
import { ID_PROBLEM } from '../common/id-param.dto';
import { ID_PATTERN } from '../common/ids';
import { LOGGER, type AppLogger } from '../common/logger';
import { TokensService } from './tokens.service';

export const TOKEN_ROUTE = '/v1/clients/:id/token';

type TokenRequest = FastifyRequest<{ Params: { id: string } }>;

/**
 * GET /v1/clients/:id/token, the broker's hot path, on Fastify directly rather
 * than through Nest's router, guards, pipes and interceptors, whose cost per
 * request is most of what a held token costs to serve. Every check of the
 * contract is still made, in the order AuthGuard, the validation pipe and
 * TokensService make them for every other route: authentication (401, 429),
 * the per-key budget (429), the id's shape (400), then the workspace (403)
 * and the token. A key and a token this replica holds are served
 * synchronously, from memory; anything else takes the same paths as the rest
 * of the API.
 */
@Injectable()
export class TokenRoute {
  constructor(
    private readonly auth: AuthService,
    private readonly tokens: TokensService,
    @Inject(LOGGER) private readonly logger: AppLogger,
  ) {}

  register(fastify: FastifyInstance): void {
    fastify.get<{ Params: { id: string } }>(TOKEN_ROUTE, (request, reply) => this.handle(request, reply));
  }

  private handle(request: TokenRequest, reply: FastifyReply): void {
    const principal = this.auth.authenticateFromMemory(request.headers.authorization);
    if (!principal) {
      void this.answerFromStore(request, reply);
      return;
    }
    try {
      this.auth.chargeTokenRequest(principal);
      const id = validId(request.params.id);
      const served = this.tokens.serveFromMemory(principal, id);
      if (served) {
        send(reply, served);
        return;
      }
    } catch (error) {
      sendError(this.logger, error, request, reply);
      return;
    }
    void this.answerFromStore(request, reply, principal);
  }

  private async answerFromStore(request: TokenRequest, reply: FastifyReply, known?: Principal): Promise<void> {
    try {
      let principal = known;
      if (!principal) {
        principal = await this.auth.authenticate(request.headers.authorization, request.ip);
        this.auth.chargeTokenRequest(principal);
      }
      send(reply, JSON.stringify(await this.tokens.getToken(principal, validId(request.params.id))));
    } catch (error) {
      sendError(this.logger, error, request, reply);
    }
  }
}

/** The same answer the validation pipe gives for IdParamDto. */
function validId(id: string): string {
  if (ID_PATTERN.test(id)) return id;
  throw new BrokerError('bad_request', 'Invalid id', { details: [{ field: 'id', problems: [ID_PROBLEM] }] });
}

function send(reply: FastifyReply, body: string): void {
  reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
}
