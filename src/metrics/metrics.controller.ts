import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { BROKER_STORE, type ClientStore } from '../store/broker-store';
import { CLIENT_STATES } from '../store/store.types';
import { MetricsService } from './metrics.service';

@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(BROKER_STORE) private readonly store: ClientStore,
  ) {}

  @Get()
  @Access('public')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    const hooks = this.metrics.beforeScrape();
    try {
      const { byState, nextDueAt } = await this.store.tokenStats(0);
      for (const state of CLIENT_STATES) this.metrics.clientsByState.set({ state }, byState[state]);
      this.metrics.refreshOverdue.set(nextDueAt === null ? 0 : Math.max(0, Date.now() - nextDueAt) / 1000);
    } catch {
      // The store is down: the last known counts stay, and the scrape still answers.
    }
    await hooks;
    return this.metrics.registry.metrics();
  }
}
