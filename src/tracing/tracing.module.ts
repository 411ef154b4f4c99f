import { Global, Module } from '@nestjs/common';
import { TracingService } from './tracing.service';

/** Global: token requests, refreshes, upstream requests and webhook deliveries each open their span through it. */
@Global()
@Module({
  providers: [TracingService],
  exports: [TracingService],
})
export class TracingModule {}
