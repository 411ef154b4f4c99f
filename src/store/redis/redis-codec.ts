import type { AuditEvent, StoreEvent } from '../store.types';

/** How the store's values are written to Redis and read back; client hashes: redis-entry-codec.ts. */

export function pairsToRecord(flat: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index < flat.length; index += 2) record[flat[index]] = flat[index + 1];
  return record;
}

export function parseAuditEvent(id: string, fields: string[]): AuditEvent {
  const stored = JSON.parse(pairsToRecord(fields).event) as Omit<AuditEvent, 'id'>;
  return { id, ...stored };
}

export function parseStoreEvent(message: string): StoreEvent | null {
  try {
    const event = JSON.parse(message) as Partial<StoreEvent> | null;
    const kinds: unknown[] = ['client', 'service_key', 'webhook'];
    if (event && kinds.includes(event.kind) && typeof event.id === 'string') {
      return { kind: event.kind as StoreEvent['kind'], id: event.id };
    }
  } catch {
    // Not JSON: ignored like any other message that is not a StoreEvent.
  }
  return null;
}

export const clientEvent = (id: string): string => JSON.stringify({ kind: 'client', id } satisfies StoreEvent);
export const serviceKeyEvent = (id: string): string => JSON.stringify({ kind: 'service_key', id } satisfies StoreEvent);

/** A lock's time to live as Redis takes it: whole milliseconds, at least one. */
export const lockTtl = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs));
export const webhookEvent = (id: string): string => JSON.stringify({ kind: 'webhook', id } satisfies StoreEvent);
