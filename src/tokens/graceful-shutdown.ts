import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RefreshScheduler } from './refresh.scheduler';
import { RefreshService } from './refresh.service';

/** Requests still running after this are cut short, so that the process exits within SPEC.md's 10 s. */
const HTTP_DRAIN_MS = 5_000;
const REFRESH_GRACE_MS = 2_000;

/**
 * SIGTERM, in the order that loses nothing: take no more scheduled work, stop
 * accepting requests and let those in flight finish (Nest closes the HTTP
 * server only after this hook, so it is closed here first), give back every
 * refresh lock, and only then let the store close (onApplicationShutdown).
 */
@Injectable()
export class GracefulShutdown implements BeforeApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly scheduler: RefreshScheduler,
    private readonly refresher: RefreshService,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.scheduler.stop();
    await Promise.race([this.adapterHost.httpAdapter?.close(), sleep(HTTP_DRAIN_MS)]);
    await this.refresher.releaseLocks(REFRESH_GRACE_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
