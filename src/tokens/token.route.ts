import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthService } from '../auth/auth.service';
import { sendError } from '../common/all-exceptions.filter';
import { BrokerError } from '../common/broker-error';
import { ID_PROBLEM } from '../common/id-param.dto';
import { ID_PATTERN } from '../common/ids';
import { LOGGER, type AppLogger } from '../common/logger';
import { rawJsonAnswerHeaders } from '../common/security-headers';
import { answerBytes } from './token-cache';
import { TokensService } from './tokens.service';

export const TOKEN_ROUTE = '/v1/clients/:id/token';
const PATH_START = '/v1/clients/';
const PATH_END = '/token';
type TokenRequest = FastifyRequest<{ Params: { id: string } }>;

/**
 * GET /v1/clients/:id/token, the broker's hot path, on Fastify directly rather
 * than through Nest's router, guards, pipes and interceptors, whose cost per
 * request is most of what a held token costs to serve. Every check of the
 * contract is still made, in the order AuthGuard, the validation pipe and
 * TokensService make them for every other route: authentication (401, 429),
 * the per-key budget (429), the id's shape (400), then the workspace (403)
 * and the token. Two dispatchers, one decision: answerFromMemory serves,
 * synchronously, what TokensService.lookup finds in memory; every other
 * request takes the full route, whose getToken starts with the same lookup.
 */
@Injectable()
export class TokenRoute {
  private open = true;

  constructor(
    private readonly auth: AuthService,
    private readonly tokens: TokensService,
    @Inject(LOGGER) private readonly logger: AppLogger,
  ) {}

  /**
   * Answers, straight from node:http, a token request that needs nothing but
   * this replica's memory: a GET of exactly /v1/clients/<valid id>/token, a
   * key held in memory, a token held for a client of one of its workspaces,
   * within the key's budget. Returns false, having written nothing, for any
   * other request, which then takes the full route below. Every check the
   * full route makes is made; a request that would fail one goes there, to
   * be answered in the contract's shape.
   */
  answerFromMemory(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url;
    if (
      !this.open ||
      request.method !== 'GET' ||
      url === undefined ||
      !url.startsWith(PATH_START) ||
      !url.endsWith(PATH_END)
    ) {
      return false;
    }
    const id = url.slice(PATH_START.length, url.length - PATH_END.length);
    if (!ID_PATTERN.test(id)) return false;
    const principal = this.auth.authenticateFromMemory(request.headers.authorization);
    if (!principal) return false;
    const now = Date.now();
    const found = this.tokens.lookup(principal, id, now);
    if (found.outcome !== 'hit' || this.auth.chargeTokenRequest(principal) !== null) return false;
    const body = this.tokens.serve(principal, id, found.token, now);
    response.writeHead(200, rawJsonAnswerHeaders(answerBytes(found.token, body)));
    response.end(body);
    return true;
  }

  /** Shutdown: from now on every request goes through Fastify, which answers 503 while it closes. */
  close(): void {
    this.open = false;
  }

  register(fastify: FastifyInstance): void {
    fastify.get<{ Params: { id: string } }>(TOKEN_ROUTE, (request, reply) => this.answer(request, reply));
  }

  /**
   * The full route, for every request answerFromMemory declined: the checks in
   * the order of every other route, then TokensService.getToken, which serves
   * from memory whatever its lookup finds there and asks the store otherwise.
   */
  private async answer(request: TokenRequest, reply: FastifyReply): Promise<void> {
    try {
      const principal = await this.auth.authenticate(request.headers.authorization, request.ip);
      const overBudget = this.auth.chargeTokenRequest(principal);
      if (overBudget) throw overBudget;
      const body = await this.tokens.getToken(principal, validId(request.params.id));
      reply.type('application/json; charset=utf-8').send(body);
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
