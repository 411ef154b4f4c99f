import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { GracefulShutdown } from './graceful-shutdown';
import { RefreshScheduler } from './refresh.scheduler';
import { RefreshService } from './refresh.service';
import { TokenCache } from './token-cache';
import { TokenRoute } from './token.route';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';
import { UpstreamClient } from './upstream/upstream.client';

@Module({
  imports: [AuditModule],
  controllers: [TokensController],
  providers: [TokensService, TokenCache, TokenRoute, RefreshService, RefreshScheduler, UpstreamClient, GracefulShutdown],
  exports: [RefreshService, RefreshScheduler, UpstreamClient, TokenCache],
})
export class TokensModule {}
