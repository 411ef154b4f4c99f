import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { Principal } from '../auth/principal';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { BROKER_STORE, type UsageKind, type UsageStore } from '../store/broker-store';

const FLUSH_INTERVAL_NAME = 'usage-flush';

type PendingStamps = Record<UsageKind, Map<string, number>>;

/**
 * When each client and service key was last served a token. Serving costs an
 * in-memory stamp (a Map.set per kind); every USAGE_FLUSH_INTERVAL_MS the
 * stamps gathered go to the store in one write, and once more at shutdown.
 * When the store cannot take them, they are kept (one entry per client or
 * key, so memory stays bounded) and go with the next write: the store keeps
 * the latest time of each id, so retrying an older stamp is harmless.
 */
@Injectable()
export class UsageRecorder implements OnApplicationBootstrap {
  private pending = emptyStamps();
  private flushing: Promise<void> | null = null;
  private failing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: UsageStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const interval = setInterval(() => this.flushUnlessBusy(), this.config.usageFlushIntervalMs);
    interval.unref();
    this.registry.addInterval(FLUSH_INTERVAL_NAME, interval);
  }

  /** A token was served to `principal` for `clientId`: the hot path's whole cost. */
  stamp(principal: Principal, clientId: string, now: number): void {
    this.pending.clients.set(clientId, now);
    if (principal.kind === 'service') this.pending.serviceKeys.set(principal.serviceKeyId, now);
  }

  /** A deleted client or key: a stamp gathered for it is not written (other replicas' may still be; never read). */
  discard(kind: UsageKind, id: string): void {
    this.pending[kind].delete(id);
  }

  /**
   * Writes what was gathered, in one store write, after any write already
   * running. Never throws: what the store did not take is kept for the next.
   */
  flush(): Promise<void> {
    const flushed = (this.flushing ?? Promise.resolve()).then(() => this.write());
    const tracked = flushed.finally(() => {
      if (this.flushing === tracked) this.flushing = null;
    });
    this.flushing = tracked;
    return flushed;
  }

  /** Shutdown, once no more tokens are served: no more timed writes, then the last one. */
  async stop(): Promise<void> {
    if (this.registry.doesExist('interval', FLUSH_INTERVAL_NAME)) this.registry.deleteInterval(FLUSH_INTERVAL_NAME);
    await this.flush();
  }

  /** The timer's write; a write still running (a slow store) takes this interval's place, so they never pile up. */
  private flushUnlessBusy(): void {
    if (this.flushing === null) void this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    if (batch.clients.size === 0 && batch.serviceKeys.size === 0) return;
    this.pending = emptyStamps();
    try {
      await this.store.recordUsage(batch);
      if (this.failing) this.logger.info('usage times are written again');
      this.failing = false;
    } catch (error) {
      this.keep(batch);
      if (!this.failing) {
        const err = error instanceof Error ? error.message : String(error);
        this.logger.warn({ err }, 'usage times could not be written; kept for the next attempt');
      }
      this.failing = true;
    }
  }

  /** Puts back a batch the store did not take; a stamp gathered since is newer and wins. */
  private keep(batch: PendingStamps): void {
    for (const kind of Object.keys(batch) as UsageKind[]) {
      const pending = this.pending[kind];
      for (const [id, at] of batch[kind]) if ((pending.get(id) ?? Number.NEGATIVE_INFINITY) < at) pending.set(id, at);
    }
  }
}

function emptyStamps(): PendingStamps {
  return { clients: new Map(), serviceKeys: new Map() };
}
