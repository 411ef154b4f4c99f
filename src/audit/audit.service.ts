import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { LOGGER, type AppLogger } from '../common/logger';
import { toPage, type Page } from '../common/page-query';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { BROKER_STORE, type AuditStore } from '../store/broker-store';
import type { AuditAction, AuditEvent } from '../store/store.types';
import type { AuditQueryDto } from './dto/audit-query.dto';

@Injectable()
export class AuditService {
  constructor(
    @Inject(BROKER_STORE) private readonly store: AuditStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: AppLogger,
  ) {}

  async record(
    actor: Principal,
    action: AuditAction,
    clientId: string | null,
    workspaceId: string | null,
  ): Promise<void> {
    const event = await this.store.appendAudit(
      { at: new Date().toISOString(), actor: actor.actor, action, clientId, workspaceId },
      this.config.auditMaxEvents,
    );
    this.logger.info({ audit: event }, `audit ${action}`);
  }

  /** record() for each client, in one store call: one event and one log line per client. */
  async recordMany(
    actor: Principal,
    action: AuditAction,
    clients: readonly { id: string; workspaceId: string }[],
  ): Promise<void> {
    const at = new Date().toISOString();
    const events = await this.store.appendAudits(
      clients.map(({ id, workspaceId }) => ({ at, actor: actor.actor, action, clientId: id, workspaceId })),
      this.config.auditMaxEvents,
    );
    for (const event of events) this.logger.info({ audit: event }, `audit ${action}`);
  }

  async list(query: AuditQueryDto): Promise<Page<AuditEvent>> {
    const fetched = await this.store.listAudit({
      clientId: query.clientId,
      workspaceId: query.workspaceId,
      beforeId: query.cursor,
      limit: query.limit + 1,
    });
    return toPage(fetched, query.limit, (event) => event.id);
  }
}
