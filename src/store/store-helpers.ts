import type { AuditPageQuery } from './broker-store';
import type { AuditEvent, ClientState, ClientStatus, ServiceKeyRecord, StoreEvent } from './store.types';

/** What both stores share, so that they keep the same rules and orders. */

export interface StoreLogger {
  warn(details: object, message: string): void;
}

export function isFailingState(state: ClientState): boolean {
  return state === 'failing' || state === 'rejected';
}

/** The failing index orders clients by when they started failing; without a time, by when they were seen failing. */
export function failingScore(status: ClientStatus): number {
  const since = status.failingSince === null ? Number.NaN : Date.parse(status.failingSince);
  return Number.isNaN(since) ? Date.now() : since;
}

/** An update may change what a client is, never which client it is: the indexes are keyed on these. */
export function assertSameIdentity(
  stored: { id: string; workspaceId: string; clientId: string | null },
  incoming: { id: string; workspaceId: string; clientId: string | null },
): void {
  if (
    stored.id !== incoming.id ||
    stored.workspaceId !== incoming.workspaceId ||
    stored.clientId !== incoming.clientId
  ) {
    throw identityChangeError();
  }
}

export function identityChangeError(): Error {
  return new Error('updateClient cannot change a client id, workspaceId or clientId');
}

export function sortServiceKeys(records: ServiceKeyRecord[]): ServiceKeyRecord[] {
  return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function matchesAuditQuery(event: AuditEvent, query: AuditPageQuery): boolean {
  return (
    (query.clientId === undefined || event.clientId === query.clientId) &&
    (query.workspaceId === undefined || event.workspaceId === query.workspaceId)
  );
}

/** Audit ids have the shape of Redis stream ids (`<ms>-<seq>`) in both stores, so a cursor means the same everywhere. */
const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;

export function assertAuditCursor(id: string): void {
  if (!STREAM_ID.test(id)) throw new Error(`invalid audit cursor "${id}": expected <ms>-<seq>`);
}

export function parseStreamId(id: string): [number, number] {
  assertAuditCursor(id);
  const match = STREAM_ID.exec(id);
  if (match === null) throw new Error(`not a stream id: ${id}`);
  return [Number(match[1]), Number(match[2])];
}

export function compareStreamIds(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** A subscriber that throws must not stop delivery to the others, nor crash the process from a callback. */
export function deliver(
  onEvent: (event: StoreEvent) => void,
  event: StoreEvent,
  logger: StoreLogger | undefined,
): void {
  try {
    onEvent(event);
  } catch (error) {
    logger?.warn(
      { err: error instanceof Error ? error.message : String(error), event },
      'store event subscriber failed',
    );
  }
}
