import type { AuditPageQuery, AuditStore } from '../interfaces/audit-store';
import { assertAuditCursor, matchesAuditQuery } from '../store-helpers';
import type { AuditEvent } from '../store.types';
import { parseAuditEvent } from './redis-codec';
import type { RedisConnection } from './redis-connection';

/** Events read per XREVRANGE while looking for audit events that match a filter. */
const AUDIT_SCAN_CHUNK = 500;

/** The audit log on Redis: one stream, capped by XADD MAXLEN; its ids are the cursors. */
export class RedisAuditStore implements AuditStore {
  constructor(private readonly connection: RedisConnection) {}

  async appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent> {
    const { at, actor, action, clientId, workspaceId } = event;
    const stored = { at, actor, action, clientId, workspaceId };
    const id = await this.connection.run((redis) =>
      redis.xadd(this.connection.keys.audit, 'MAXLEN', String(maxEvents), '*', 'event', JSON.stringify(stored)),
    );
    // XADD with '*' and no NOMKSTREAM always answers the new id.
    return { id: id as string, ...stored };
  }

  /** One round trip: the XADDs of one pipeline, in order. */
  async appendAudits(events: readonly Omit<AuditEvent, 'id'>[], maxEvents: number): Promise<AuditEvent[]> {
    if (events.length === 0) return [];
    const stored = events.map(({ at, actor, action, clientId, workspaceId }) => ({
      at,
      actor,
      action,
      clientId,
      workspaceId,
    }));
    const ids = await this.connection.pipeline((pipeline) => {
      for (const event of stored) {
        pipeline.xadd(this.connection.keys.audit, 'MAXLEN', String(maxEvents), '*', 'event', JSON.stringify(event));
      }
    });
    return stored.map((event, index) => ({ id: ids[index] as string, ...event }));
  }

  async listAudit(query: AuditPageQuery): Promise<AuditEvent[]> {
    if (query.beforeId !== undefined) assertAuditCursor(query.beforeId);
    const page: AuditEvent[] = [];
    if (query.limit <= 0) return page;
    const filtered = query.clientId !== undefined || query.workspaceId !== undefined;
    const chunk = filtered ? Math.max(query.limit, AUDIT_SCAN_CHUNK) : query.limit;
    let newestWanted = query.beforeId === undefined ? '+' : `(${query.beforeId}`;
    while (page.length < query.limit) {
      const entries = await this.connection.run((redis) =>
        redis.xrevrange(this.connection.keys.audit, newestWanted, '-', 'COUNT', chunk),
      );
      for (const [id, fields] of entries) {
        const event = parseAuditEvent(id, fields);
        if (matchesAuditQuery(event, query) && page.length < query.limit) page.push(event);
      }
      if (entries.length < chunk) break;
      newestWanted = `(${entries[entries.length - 1][0]}`;
    }
    return page;
  }
}
