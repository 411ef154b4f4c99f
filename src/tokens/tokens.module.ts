import { Module } from '@nestjs/common';
import { RefreshModule } from '../refresh/refresh.module';
import { UsageModule } from '../usage/usage.module';
import { TokenCache } from './token-cache';
import { TokenRoute } from './token.route';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

@Module({
  imports: [RefreshModule, UsageModule],
  controllers: [TokensController],
  providers: [TokensService, TokenCache, TokenRoute],
  exports: [TokenRoute],
})
export class TokensModule {}
