import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { LockManager } from './lock-manager';
import { eventLoopBusyMeter, LOOP_BUSY_METER } from './loop-busy-meter';
import { RefreshFacade } from './refresh.facade';
import { RefreshScheduler } from './refresh.scheduler';
import { Refresher } from './refresher';
import { ClientTlsAgents } from './upstream/tls-agents';
import { UpstreamClient } from './upstream/upstream.client';

/**
 * Obtaining tokens: when to refresh (refresh-policy), the lock that keeps it
 * to one replica (lock-manager), the runner (refresher), the schedule
 * (refresh.scheduler) and the upstream HTTP client (upstream/). Only the
 * façade leaves the module.
 */
@Module({
  imports: [AuditModule],
  providers: [
    RefreshFacade,
    Refresher,
    LockManager,
    RefreshScheduler,
    UpstreamClient,
    ClientTlsAgents,
    { provide: LOOP_BUSY_METER, useFactory: eventLoopBusyMeter },
  ],
  exports: [RefreshFacade],
})
export class RefreshModule {}
