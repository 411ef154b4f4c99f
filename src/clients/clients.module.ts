import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RefreshModule } from '../refresh/refresh.module';
import { StoreEventsModule } from '../store/store-events.module';
import { UsageModule } from '../usage/usage.module';
import { ClientsBatchController } from './clients-batch.controller';
import { ClientsBatchService } from './clients-batch.service';
import { ClientsController } from './clients.controller';
import { ClientEdits } from './client-edits';
import { ClientsService } from './clients.service';
import { NewClientFactory } from './new-client';

@Module({
  imports: [AuditModule, RefreshModule, StoreEventsModule, UsageModule],
  controllers: [ClientsBatchController, ClientsController],
  providers: [ClientsService, ClientsBatchService, NewClientFactory, ClientEdits],
})
export class ClientsModule {}
