import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../common/broker-error';
import { toErrorResponse } from '../common/error-response';

export const CONSOLE_PREFIX = '/console/';

/**
 * The console loads nothing from another origin and runs no inline script or
 * style, so a script injected into it could neither run nor send the admin
 * key anywhere but this broker.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * Where `npm run build` puts the console (vite build of console/): two levels
 * up from this file is the repository root, from src/console and from
 * dist/console alike.
 */
export const CONSOLE_ASSETS_DIR = resolve(__dirname, '..', '..', 'dist', 'console-assets');

/**
 * Hashed file names change with their content: cache them for good. index.html
 * names them, so it is checked each time.
 */
function cacheControlFor(url: string): string {
  return url.startsWith(`${CONSOLE_PREFIX}assets/`) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * Serves the admin console's built files at /console/ with its own strict
 * Content-Security-Policy. It reaches the broker through the public API
 * only, with the admin key the person signs in with.
 */
export function registerConsole(fastify: FastifyInstance, root: string = CONSOLE_ASSETS_DIR): void {
  fastify.register(async (scope) => {
    scope.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload, done) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      if (reply.statusCode === 200 || reply.statusCode === 304)
        reply.header('cache-control', cacheControlFor(request.url));
      done(null, payload);
    });
    if (!existsSync(join(root, 'index.html'))) {
      const notBuilt = (_request: FastifyRequest, reply: FastifyReply) => {
        const message = 'The console is not built: run `npm run build`, then start the broker again';
        const { status, body } = toErrorResponse(new BrokerError('not_found', message));
        return reply.status(status).send(body);
      };
      scope.get('/console', notBuilt);
      scope.get('/console*', notBuilt);
      return;
    }
    // The console's relative asset paths need the trailing slash.
    scope.get('/console', (_request, reply) => reply.redirect(CONSOLE_PREFIX, 301));
    await scope.register(fastifyStatic, {
      root,
      prefix: CONSOLE_PREFIX,
      index: 'index.html',
      decorateReply: false,
      cacheControl: false,
      dotfiles: 'deny',
    });
  });
}
