import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import { HttpAdapterHost } from '@nestjs/core';
import { RefreshFacade } from './refresh/refresh.facade';
import { TokenRoute } from './tokens/token.route';
import { UsageRecorder } from './usage/usage-recorder';

/** Requests still running after this are cut short, so that the process exits within SPEC.md's 10 s. */
const HTTP_DRAIN_MS = 5_000;
const REFRESH_GRACE_MS = 2_000;
/**
 * Before Fastify closes the server (which cuts idle keep-alive connections),
 * new connections are refused and every answer carries `Connection: close`,
 * for up to this long: keep-alive clients are told to go elsewhere instead of
 * having a connection cut while their next request is already on the wire (a reset).
 */
const KEEP_ALIVE_DRAIN_MS = 1_000;

/**
 * SIGTERM, in the order that loses nothing: take no more scheduled work, stop
 * accepting requests and let those in flight finish (Nest closes the HTTP
 * server only after this hook, so it is closed here first), give back every
 * refresh lock, write the usage times gathered since the last interval (no
 * token is served any more), and only then let the store close (onApplicationShutdown).
 *
 * It belongs to the app, not to a feature module: it orders the token route
 * (tokens) against refreshing (refresh), and tokens already depends on
 * refresh, so neither module could hold it without a cycle.
 */
@Injectable()
export class GracefulShutdown implements BeforeApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly refresh: RefreshFacade,
    private readonly tokenRoute: TokenRoute,
    private readonly usage: UsageRecorder,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.refresh.stopScheduling();
    this.tokenRoute.close();
    await this.closeKeepAliveConnections();
    await Promise.race([this.adapterHost.httpAdapter?.close(), sleep(HTTP_DRAIN_MS)]);
    await this.refresh.drain(REFRESH_GRACE_MS);
    await this.usage.stop();
  }

  /**
   * Stops accepting connections, and every answer from now on closes its
   * connection; waits until none is left open, or KEEP_ALIVE_DRAIN_MS.
   */
  private async closeKeepAliveConnections(): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer?.() as Server | undefined;
    if (!server?.listening) return;
    // Prepended, so it runs before Fastify's handler writes anything.
    server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
      response.shouldKeepAlive = false;
    });
    // net's close, not http's: http's would also cut idle keep-alive connections now, racing requests
    // already sent on them. Fastify's close later tolerates the server having stopped listening.
    NetServer.prototype.close.call(server);
    const deadline = Date.now() + KEEP_ALIVE_DRAIN_MS;
    while (Date.now() < deadline && (await openConnections(server)) > 0) await sleep(50);
  }
}

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
