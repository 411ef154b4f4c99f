import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RefreshModule } from '../refresh/refresh.module';
import { UsageModule } from '../usage/usage.module';
import { ClientsController } from './clients.controller';
import { ClientsService } from './clients.service';

@Module({
  imports: [AuditModule, RefreshModule, UsageModule],
  controllers: [ClientsController],
  providers: [ClientsService],
})
export class ClientsModule {}
