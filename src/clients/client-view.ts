import { usageTime } from '../usage/usage-time';
import { authMethodOf, defaultExpiresInOf, extraParamsOf } from '../client-auth/provider-settings';
import type {
  ClientEntry,
  ClientState,
  ClientType,
  SigningAlg,
  TokenEndpointAuthMethod,
  TokenRequestFormat,
} from '../store/store.types';

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
  /** The provider settings: null for api_key clients, and for the fields the client's method does not use. */
  tokenEndpointAuthMethod: TokenEndpointAuthMethod | null;
  keyId: string | null;
  signingAlg: SigningAlg | null;
  certificateExpiresAt: string | null;
  extraParams: Record<string, string> | null;
  defaultExpiresInSeconds: number | null;
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
    ...providerSettingsView(client),
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

type ProviderSettingsView = Pick<
  ClientView,
  | 'tokenEndpointAuthMethod'
  | 'keyId'
  | 'signingAlg'
  | 'certificateExpiresAt'
  | 'extraParams'
  | 'defaultExpiresInSeconds'
>;

/** What a client obtains its tokens with, beside the material; a record stored before these settings shows their defaults. */
function providerSettingsView(client: ClientEntry['client']): ProviderSettingsView {
  if (client.type === 'api_key') {
    return {
      tokenEndpointAuthMethod: null,
      keyId: null,
      signingAlg: null,
      certificateExpiresAt: null,
      extraParams: null,
      defaultExpiresInSeconds: null,
    };
  }
  return {
    tokenEndpointAuthMethod: authMethodOf(client),
    keyId: client.keyId ?? null,
    signingAlg: client.signingAlg ?? null,
    certificateExpiresAt: client.certificateExpiresAt ?? null,
    extraParams: extraParamsOf(client),
    defaultExpiresInSeconds: defaultExpiresInOf(client),
  };
}

/** The last 4 characters, enough to tell secrets apart; none for a secret under 8 characters, of which 4 would be half. */
export function secretHintOf(secret: string): string {
  return secret.length >= 8 ? secret.slice(-4) : '';
}
