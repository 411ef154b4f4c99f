import { clearAdminKey, readAdminKey } from './session';

export type ClientState = 'pending' | 'ready' | 'failing' | 'rejected';
export const CLIENT_STATES: readonly ClientState[] = ['pending', 'ready', 'failing', 'rejected'];
export type ClientType = 'oauth_client_credentials' | 'api_key';
export type TokenRequestFormat = 'json' | 'form';
export type AuthMethod = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | 'tls_client_auth';
export const AUTH_METHODS: readonly AuthMethod[] = [
  'client_secret_post',
  'client_secret_basic',
  'private_key_jwt',
  'tls_client_auth',
];
export type SigningAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

export interface ClientView {
  id: string;
  workspaceId: string;
  name: string;
  type: ClientType;
  clientId: string | null;
  tokenUrl: string | null;
  scope: string | null;
  tokenRequestFormat: TokenRequestFormat;
  /** The provider settings: null for api_key clients (and absent from an older broker). */
  tokenEndpointAuthMethod?: AuthMethod | null;
  keyId?: string | null;
  signingAlg?: SigningAlg | null;
  certificateExpiresAt?: string | null;
  extraParams?: Record<string, string> | null;
  defaultExpiresInSeconds?: number | null;
  secretHint: string;
  createdAt: string;
  updatedAt: string;
  status: {
    state: ClientState;
    tokenExpiresAt: string | null;
    lastRefreshAt: string | null;
    lastError: string | null;
    failingSince: string | null;
    lastServedAt?: string | null;
  };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TokenHealth {
  total: number;
  byState: Record<ClientState, number>;
  failing: {
    id: string;
    workspaceId: string;
    state: ClientState;
    lastError: string | null;
    failingSince: string | null;
  }[];
  nextRefreshAt: string | null;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  clientId: string | null;
  workspaceId: string | null;
}

export interface ServiceKey {
  id: string;
  name: string;
  workspaces: string[];
  createdAt: string;
  /** Added by a later version of the API; shown when present. */
  lastUsedAt?: string | null;
}

export interface CreatedServiceKey extends ServiceKey {
  key: string;
}

export const WEBHOOK_EVENTS = [
  'client.failing',
  'client.rejected',
  'client.recovered',
  'client.certificate_expiring',
] as const;

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  workspaces: string[];
  createdAt: string;
}

export interface CreatedWebhook extends Webhook {
  secret: string;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  id: string;
  eventId: string;
  type: string;
  attempts: number;
  state: DeliveryState;
  lastStatus: number | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
}

export interface FieldProblem {
  field: string;
  problems: string[];
}

/** An error answer of the API, in the contract's shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when the API refuses the stored key: the app signs out. */
let onUnauthorized: () => void = () => undefined;
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function call<T>(method: string, path: string, body?: unknown, key = readAdminKey()): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'network', 'The broker could not be reached. Check that it is running.');
  }
  if (response.status === 204) return undefined as T;
  const payload = await response.json().catch(() => null);
  if (response.ok) return payload as T;
  const message = typeof payload?.message === 'string' ? payload.message : `The broker answered ${response.status}`;
  const error = new ApiError(response.status, String(payload?.code ?? 'internal'), message, payload?.details ?? []);
  if (response.status === 401 && key === readAdminKey()) {
    clearAdminKey();
    onUnauthorized();
  }
  throw error;
}

function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const enc = encodeURIComponent;

export const api = {
  /** Checks a key before it is kept: an admin key may read /health/tokens, a service key may not. */
  checkAdminKey: (key: string) => call<TokenHealth>('GET', '/health/tokens', undefined, key),
  tokenHealth: () => call<TokenHealth>('GET', '/health/tokens'),
  listClients: (params: { workspaceId?: string; cursor?: string | null; limit?: number }) =>
    call<Page<ClientView>>('GET', `/v1/clients${query(params)}`),
  getClient: (id: string) => call<ClientView>('GET', `/v1/clients/${enc(id)}`),
  createClient: (body: Record<string, unknown>) => call<ClientView>('POST', '/v1/clients', body),
  /** The new material of the client's method: clientSecret, apiKey, { privateKey, keyId? } or { clientCertificate, privateKey }. */
  rotateSecret: (id: string, body: Record<string, string>, verify: boolean) =>
    call<ClientView>('PUT', `/v1/clients/${enc(id)}/secret${verify ? '' : '?verify=false'}`, body),
  deleteClient: (id: string) => call<void>('DELETE', `/v1/clients/${enc(id)}`),
  auditEvents: (params: { clientId?: string; cursor?: string | null; limit?: number }) =>
    call<Page<AuditEvent>>('GET', `/v1/audit-events${query(params)}`),
  listServiceKeys: () => call<{ items: ServiceKey[] }>('GET', '/v1/service-keys'),
  createServiceKey: (body: { name: string; workspaces: string[] }) =>
    call<CreatedServiceKey>('POST', '/v1/service-keys', body),
  deleteServiceKey: (id: string) => call<void>('DELETE', `/v1/service-keys/${enc(id)}`),
  listWebhooks: () => call<{ items: Webhook[] }>('GET', '/v1/webhooks'),
  createWebhook: (body: { url: string; events: string[]; workspaces?: string[] }) =>
    call<CreatedWebhook>('POST', '/v1/webhooks', body),
  deleteWebhook: (id: string) => call<void>('DELETE', `/v1/webhooks/${enc(id)}`),
  testWebhook: (id: string) => call<void>('POST', `/v1/webhooks/${enc(id)}/test`),
  deliveries: (id: string, params: { cursor?: string | null; limit?: number }) =>
    call<Page<Delivery>>('GET', `/v1/webhooks/${enc(id)}/deliveries${query(params)}`),
};
