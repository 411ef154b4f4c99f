import type { AuditEvent } from '../store.types';

export interface AuditPageQuery {
  clientId?: string;
  workspaceId?: string;
  /** Return events strictly older than the event with this id. */
  beforeId?: string;
  limit: number;
}

/** Audit events: a capped log, newest first. */
export interface AuditStore {
  appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent>;
  /** Appends the events in order, as appendAudit would one by one; returns them stored, in the same order. */
  appendAudits(events: readonly Omit<AuditEvent, 'id'>[], maxEvents: number): Promise<AuditEvent[]>;
  listAudit(query: AuditPageQuery): Promise<AuditEvent[]>;
}
