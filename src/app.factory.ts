import { createServer, type IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppModule } from './app.module';
import { registerConsole } from './console/console.static';
import { setAnswerHeaders } from './common/security-headers';
import { TOKEN_ROUTE, TokenRoute } from './tokens/token.route';
import { NestPinoLogger, type AppLogger } from './common/logger';
import { BrokerError } from './common/broker-error';
import { sendError } from './common/all-exceptions.filter';
import { answerClientError } from './common/client-error';
import type { AppConfig } from './config/config';
import { BATCH_ROUTE } from './clients/clients-batch.controller';
import { BATCH_BODY_LIMIT_BYTES } from './clients/dto/create-clients-batch.dto';

export const BODY_LIMIT_BYTES = 64 * 1024;

/** TokenRoute sits outside Nest's router, so its OpenAPI entry is written here. */
const TOKEN_ROUTE_DOCUMENT = {
  tags: ['tokens'],
  summary: 'A token with at least MIN_TOKEN_TTL_SECONDS left (service key or admin key)',
  security: [{ bearer: [] }],
  parameters: [{ name: 'id', in: 'path' as const, required: true, schema: { type: 'string' as const } }],
  responses: {
    '200': {
      description: '{ access_token, token_type: "Bearer", expires_at, expires_in }, with Cache-Control: no-store',
    },
    '401': { description: 'unauthorized' },
    '403': { description: 'forbidden: a client of another workspace' },
    '404': { description: 'not_found' },
    '429': { description: 'rate_limited' },
    '502': { description: 'credentials_rejected' },
    '503': { description: 'upstream_unavailable or store_unavailable, with Retry-After' },
  },
};

/**
 * Builds the broker on Fastify, initialised but not listening: main.ts listens
 * on the configured port, tests on an ephemeral one.
 */
export async function createApp(config: AppConfig, logger: AppLogger): Promise<NestFastifyApplication> {
  // Bound once the application exists: the server is made before it.
  let answerFromMemory: (request: IncomingMessage, response: ServerResponse) => boolean = () => false;
  const adapter = new FastifyAdapter({
    // A token request this replica can answer from memory alone is answered
    // before Fastify sees it (see TokenRoute.answerFromMemory); any other
    // request, and any that needs more, goes to Fastify and Nest as usual.
    serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void, options: ServerOptions) => {
      const server = createServer({ ...options, ...connectionTimeouts(config) }, (request, response) => {
        if (!answerFromMemory(request, response)) handler(request, response);
      });
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
    // What Node's HTTP parser refuses (bad header characters, over-large headers, timeouts) never
    // reaches Fastify's hooks: it is answered in the contract's shape here.
    clientErrorHandler: answerClientError,
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    return503OnClosing: true,
    // URLs the router cannot match (bad percent-encoding, an over-long path
    // parameter) never reach Nest; answer them in the contract's shape too.
    // These answers skip the onSend hook below, so they get the answer headers here.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      sendError(logger, routerError(error), request, setAnswerHeaders(reply)),
  });
  // bodyParser: false keeps Nest from adding a form parser; with Fastify's
  // text/plain parser removed, JSON is the only body accepted, anything else is 415.
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    logger: new NestPinoLogger(logger),
    abortOnError: false,
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  // Nest registers its routes in init(), below: the batch route alone takes bigger bodies.
  fastify.addHook('onRoute', (route) => {
    if (route.url === BATCH_ROUTE && route.method === 'POST') route.bodyLimit = BATCH_BODY_LIMIT_BYTES;
  });
  // A callback hook, not an async one: it runs on every answer, the hot path's included.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    setAnswerHeaders(reply);
    done(null, payload);
  });
  const tokenRoute = app.get(TokenRoute);
  tokenRoute.register(fastify);
  answerFromMemory = (request, response) => tokenRoute.answerFromMemory(request, response);
  registerConsole(fastify);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('token-broker')
      .setDescription(
        'Multi-tenant OAuth token broker: admin API for clients and service keys, token API for internal services.',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  document.paths[TOKEN_ROUTE.replace(':id', '{id}')] = { get: TOKEN_ROUTE_DOCUMENT };
  SwaggerModule.setup('docs', app, document);
  await app.init();
  return app;
}

/**
 * Idle keep-alive connections live longer than a load balancer's usual 60 s,
 * so the balancer, not the broker, closes them (no race on a reused socket).
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * Fastify hands its requestTimeout (0) to the server, which would turn
 * Node's header timeout off too: a client sending a header a minute would
 * hold its connection for ever. Node checks the timeouts every
 * connectionsCheckingInterval (30 s by default), far coarser than they are.
 */
function connectionTimeouts(config: AppConfig): ServerOptions {
  return {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(config.httpHeadersTimeoutMs / 4)),
  };
}

/** The router's own refusals as contract errors; the path is not quoted back. */
function routerError(error: { code?: string }): unknown {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new BrokerError('bad_request', 'The URL is not valid: check its percent-encoding', {
        details: [{ field: 'path', problems: ['must be a validly percent-encoded URL path'] }],
      });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new BrokerError('bad_request', 'A path parameter is too long: ids are 1-64 characters', {
        details: [{ field: 'path', problems: ['path parameters are at most 64 characters'] }],
      });
    default:
      return error;
  }
}
