import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { UsageModule } from '../usage/usage.module';
import { ServiceKeysController } from './service-keys.controller';
import { ServiceKeysService } from './service-keys.service';

@Module({
  imports: [AuditModule, UsageModule],
  controllers: [ServiceKeysController],
  providers: [ServiceKeysService],
})
export class ServiceKeysModule {}
