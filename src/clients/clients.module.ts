import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { TokensModule } from '../tokens/tokens.module';
import { ClientsController } from './clients.controller';
import { ClientsService } from './clients.service';

@Module({
  imports: [AuditModule, TokensModule],
  controllers: [ClientsController],
  providers: [ClientsService],
})
export class ClientsModule {}
