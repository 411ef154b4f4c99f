import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { TokensModule } from '../tokens/tokens.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), TokensModule],
  controllers: [HealthController],
  providers: [HealthService],
})
export class HealthModule {}
