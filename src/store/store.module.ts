import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { LOGGER, type AppLogger } from '../common/logger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { BROKER_STORE, type BrokerStore } from './broker-store';
import { MemoryStore } from './memory.store';
import { RedisStore } from './redis.store';

/** Provides BROKER_STORE: Redis (one, through Sentinel, or a Cluster) when a store variable is set, else process memory. */
@Global()
@Module({
  providers: [
    {
      provide: BROKER_STORE,
      inject: [APP_CONFIG, { token: LOGGER, optional: true }],
      useFactory: (config: AppConfig, logger?: AppLogger): Promise<BrokerStore> | BrokerStore =>
        config.redis === null
          ? new MemoryStore({ logger })
          : RedisStore.connect({
              topology: config.redis,
              keyPrefix: config.redisKeyPrefix,
              waitReplicas: config.redisWaitReplicas,
              logger,
              failpoint: config.testFailpoint,
            }),
    },
  ],
  exports: [BROKER_STORE],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(BROKER_STORE) private readonly store: BrokerStore) {}

  /** The last shutdown step, so other providers can still release locks in beforeApplicationShutdown. */
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
