import type { StoreEventBus } from '../../src/store/broker-store';
import type { WebhookEvent, WebhookRecord } from '../../src/store/webhook.types';
import {
  initialStatus,
  type AuditEvent,
  type ClientEntry,
  type ClientState,
  type ClientStatus,
  type ServiceKeyRecord,
  type StoreEvent,
  type StoredToken,
} from '../../src/store/store.types';

/** The values and helpers the contract suites share. */

export function makeEntry(
  id: string,
  options: { workspaceId?: string; clientId?: string | null; status?: ClientStatus; token?: StoredToken | null } = {},
): ClientEntry {
  const clientId = options.clientId === undefined ? `oauth-${id}` : options.clientId;
  const common = {
    id,
    workspaceId: options.workspaceId ?? 'o_one',
    name: `client ${id}`,
    scope: null,
    tokenRequestFormat: 'json' as const,
    secretHint: 'wxyz',
    sealedSecret: `v1:kid:sealed-secret-of-${id}`,
    generation: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
  return {
    client:
      clientId === null
        ? { ...common, type: 'api_key', clientId, tokenUrl: null }
        : {
            ...common,
            type: 'oauth_client_credentials',
            clientId,
            tokenUrl: 'https://api.pipedream.com/v1/oauth/token',
          },
    status: options.status ?? initialStatus(),
    token: options.token ?? null,
  };
}

export function makeToken(generation: number, overrides: Partial<StoredToken> = {}): StoredToken {
  return {
    sealedAccessToken: `v1:kid:sealed-token-${generation}`,
    expiresAt: 1_750_000_000_000 + 3_600_000,
    obtainedAt: 1_750_000_000_000,
    generation,
    ...overrides,
  };
}

export function statusIn(state: ClientState, failingSince: string | null = null): ClientStatus {
  return {
    ...initialStatus(),
    state,
    failingSince,
    lastError: state === 'failing' || state === 'rejected' ? 'upstream said no' : null,
    tokenExpiresAt: state === 'ready' ? '2025-06-15T16:00:00.000Z' : null,
  };
}

/** A webhook record as the service would store it. */
export const webhook = (id: string, events: string[] = ['*'], workspaces: string[] = ['*']): WebhookRecord => ({
  id,
  url: `https://hooks.example.com/${id}`,
  events,
  workspaces,
  sealedSecret: `v1.kid.sealed-secret-of-${id}`,
  createdAt: '2025-01-01T00:00:00.000Z',
});

/** A `webhook.test` event, which goes only to the webhook named. */
export const testEvent = (id: string): WebhookEvent => ({
  id,
  type: 'webhook.test',
  timestamp: '2025-01-01T00:00:00.000Z',
  data: { clientId: null, workspaceId: null, name: null, state: null, lastError: null, failingSince: null },
});

/** An ISO time `minutes` after a fixed origin. */
export function isoAt(minutes: number): string {
  return new Date(Date.UTC(2025, 0, 1) + minutes * 60_000).toISOString();
}

export function serviceKey(id: string, createdAt: string, workspaces: string[]): ServiceKeyRecord {
  return { id, name: `key ${id}`, workspaces, keyHash: 'ab'.repeat(32), createdAt };
}

export function auditEvent(clientId: string | null, workspaceId: string | null = 'o_one'): Omit<AuditEvent, 'id'> {
  return { at: '2025-01-01T00:00:00.000Z', actor: 'admin:0123abcd', action: 'client.update', clientId, workspaceId };
}

export function idOf(item: { id: string } | { client: { id: string } }): string {
  return 'client' in item ? item.client.id : item.id;
}

const PROBE_ID = 'probe';

/** A due time far enough ahead that clients inserted by these tests stay out of the schedule tests' way. */
export const UNSCHEDULED = 8_000_000_000_000;

/**
 * Subscribes and waits until the subscription is live: with Redis it is
 * made asynchronously, so probe events are published until one comes back.
 */
export async function subscribed(
  store: StoreEventBus,
  onResync: () => void = () => undefined,
): Promise<{ events: () => StoreEvent[] }> {
  const received: StoreEvent[] = [];
  store.subscribe((event) => received.push(event), onResync);
  await eventually(async () => {
    await store.publish({ kind: 'client', id: PROBE_ID });
    await sleep(20);
    expect(received.map(idOf)).toContain(PROBE_ID);
  });
  return { events: () => received.filter((event) => event.id !== PROBE_ID) };
}

/** Retries an assertion until it passes or the time is up, then fails with its last error. */
export async function eventually(assertion: () => unknown | Promise<unknown>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
