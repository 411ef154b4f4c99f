import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { MetricsService } from '../metrics/metrics.service';
import { HealthService } from './health.service';

/**
 * tb_store_up and tb_ready, from the same checks as GET /health/ready, made
 * at each scrape: an alert then sees what a load balancer's probe sees.
 */
@Injectable()
export class HealthMetrics implements OnModuleInit {
  constructor(
    private readonly health: HealthService,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.onScrape(() => this.update());
  }

  private async update(): Promise<void> {
    const storeUp = isUp(await this.health.storeIndicator());
    const schedulerUp = isUp(this.health.schedulerIndicator());
    this.metrics.storeUp.set(storeUp ? 1 : 0);
    this.metrics.ready.set(storeUp && schedulerUp ? 1 : 0);
  }
}

function isUp(result: HealthIndicatorResult): boolean {
  return Object.values(result).every((indicator) => indicator.status === 'up');
}
