import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ClientsModule } from './clients/clients.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import type { AppLogger } from './common/logger';
import { LoggingModule } from './common/logging.module';
import { BrokerValidationPipe } from './common/validation.pipe';
import type { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { CryptoModule } from './crypto/crypto.module';
import { GracefulShutdown } from './graceful-shutdown';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { RefreshModule } from './refresh/refresh.module';
import { ServiceKeysModule } from './service-keys/service-keys.module';
import { StoreEventsModule } from './store/store-events.module';
import { StoreModule } from './store/store.module';
import { TokensModule } from './tokens/tokens.module';
import { TracingModule } from './tracing/tracing.module';
import { UsageModule } from './usage/usage.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/** The whole broker. Configuration and logger come in from outside, so tests build it with their own. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: AppLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        ScheduleModule.forRoot(),
        CryptoModule,
        StoreModule,
        StoreEventsModule,
        MetricsModule,
        TracingModule,
        AuthModule,
        AuditModule,
        ServiceKeysModule,
        ClientsModule,
        RefreshModule,
        TokensModule,
        UsageModule,
        HealthModule,
        WebhooksModule,
      ],
      providers: [
        { provide: APP_PIPE, useClass: BrokerValidationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        GracefulShutdown,
      ],
    };
  }
}
