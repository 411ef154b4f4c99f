import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ServiceKeysController } from './service-keys.controller';
import { ServiceKeysService } from './service-keys.service';

@Module({
  imports: [AuditModule],
  controllers: [ServiceKeysController],
  providers: [ServiceKeysService],
})
export class ServiceKeysModule {}
