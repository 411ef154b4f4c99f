import { Module } from '@nestjs/common';
import { UsageRecorder } from './usage-recorder';

/**
 * Usage times: when each client and service key was last served a token.
 * The recorder gathers them in memory on the hot path and writes them in
 * batches; the views read them from the store (UsageStore).
 */
@Module({
  providers: [UsageRecorder],
  exports: [UsageRecorder],
})
export class UsageModule {}
