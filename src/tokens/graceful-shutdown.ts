import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RefreshScheduler } from './refresh.scheduler';
import { RefreshService } from './refresh.service';

const REFRESH_GRACE_MS = 3_000;

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
    await this.adapterHost.httpAdapter?.close();
    await this.refresher.releaseLocks(REFRESH_GRACE_MS);
  }
}
