import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { BROKER_STORE, type BrokerStore } from '../store/broker-store';
import type { ClientState } from '../store/store.types';
import { RefreshFacade } from '../refresh/refresh.facade';

const FAILING_LIST_LIMIT = 100;

export interface TokensHealth {
  total: number;
  byState: Record<ClientState, number>;
  failing: {
    id: string;
    workspaceId: string;
    state: ClientState;
    lastError: string | null;
    failingSince: string | null;
  }[];
  nextRefreshAt: string | null;
}

@Injectable()
export class HealthService {
  constructor(
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    private readonly indicators: HealthIndicatorService,
    private readonly refresh: RefreshFacade,
  ) {}

  async storeIndicator(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('store');
    try {
      await this.store.ping();
      return indicator.up({ kind: this.store.kind });
    } catch {
      return indicator.down({ kind: this.store.kind, message: 'store unreachable' });
    }
  }

  schedulerIndicator(): HealthIndicatorResult {
    const indicator = this.indicators.check('scheduler');
    return this.refresh.isSchedulerRunning()
      ? indicator.up()
      : indicator.down({ message: 'scheduler ticks are not completing' });
  }

  /** From counters the store keeps as states change, and at most 100 failing entries: never a scan of all clients. */
  async tokens(): Promise<TokensHealth> {
    const stats = await this.store.tokenStats(FAILING_LIST_LIMIT);
    const entries = await Promise.all(stats.failingIds.map((id) => this.store.getClient(id)));
    return {
      total: stats.total,
      byState: stats.byState,
      failing: entries.flatMap((entry) =>
        entry
          ? [
              {
                id: entry.client.id,
                workspaceId: entry.client.workspaceId,
                state: entry.status.state,
                lastError: entry.status.lastError,
                failingSince: entry.status.failingSince,
              },
            ]
          : [],
      ),
      nextRefreshAt: stats.nextDueAt === null ? null : new Date(stats.nextDueAt).toISOString(),
    };
  }
}
