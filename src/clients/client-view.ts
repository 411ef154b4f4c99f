import { usageTime } from '../usage/usage-time';
import type { ClientEntry, ClientState, ClientType, TokenRequestFormat } from '../store/store.types';

/** What the admin API shows of a client: never a secret, an API key or a token. */
export interface ClientView {
  id: string;
  workspaceId: string;
  name: string;
  type: ClientType;
  clientId: string | null;
  tokenUrl: string | null;
  scope: string | null;
  tokenRequestFormat: TokenRequestFormat;
  secretHint: string;
  createdAt: string;
  updatedAt: string;
  status: {
    state: ClientState;
    tokenExpiresAt: string | null;
    lastRefreshAt: string | null;
    lastError: string | null;
    failingSince: string | null;
    /** When a token was last served for it (from the usage times, at most 60 s stale). */
    lastServedAt: string | null;
  };
}

/** `lastServedAt`: epoch ms from the usage times; a client just registered was never served. */
export function toClientView({ client, status }: ClientEntry, lastServedAt: number | null = null): ClientView {
  return {
    id: client.id,
    workspaceId: client.workspaceId,
    name: client.name,
    type: client.type,
    clientId: client.clientId,
    tokenUrl: client.tokenUrl,
    scope: client.scope,
    tokenRequestFormat: client.tokenRequestFormat,
    secretHint: client.secretHint,
    createdAt: client.createdAt,
    updatedAt: client.updatedAt,
    status: {
      state: status.state,
      tokenExpiresAt: status.tokenExpiresAt,
      lastRefreshAt: status.lastRefreshAt,
      lastError: status.lastError,
      failingSince: status.failingSince,
      lastServedAt: usageTime(lastServedAt),
    },
  };
}

/** The last 4 characters, enough to tell secrets apart; none for a secret under 8 characters, of which 4 would be half. */
export function secretHintOf(secret: string): string {
  return secret.length >= 8 ? secret.slice(-4) : '';
}
