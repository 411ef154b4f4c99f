import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RefreshModule } from '../refresh/refresh.module';
import { ClientsController } from './clients.controller';
import { ClientsService } from './clients.service';

@Module({
  imports: [AuditModule, RefreshModule],
  controllers: [ClientsController],
  providers: [ClientsService],
})
export class ClientsModule {}
