import { clearAdminKey, readAdminKey } from './session';

export type ClientState = 'pending' | 'ready' | 'failing' | 'rejected';
export const CLIENT_STATES: readonly ClientState[] = ['pending', 'ready', 'failing', 'rejected'];
export type ClientType = 'oauth_client_credentials' | 'api_key';

export interface ClientView {
  id: string;
  workspaceId: string;
  name: string;
  type: ClientType;
  clientId: string | null;
  tokenUrl: string | null;
  scope: string | null;
  tokenRequestFormat: 'json' | 'form';
  secretHint: string;
  createdAt: string;
  updatedAt: string;
  status: {
    state: ClientState;
    tokenExpiresAt: string | null;
    lastRefreshAt: string | null;
    lastError: string | null;
    failingSince: string | null;
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
  rotateSecret: (id: string, body: Record<string, string>, verify: boolean) =>
    call<ClientView>('PUT', `/v1/clients/${enc(id)}/secret${verify ? '' : '?verify=false'}`, body),
  deleteClient: (id: string) => call<void>('DELETE', `/v1/clients/${enc(id)}`),
  auditEvents: (params: { clientId?: string; cursor?: string | null; limit?: number }) =>
    call<Page<AuditEvent>>('GET', `/v1/audit-events${query(params)}`),
  listServiceKeys: () => call<{ items: ServiceKey[] }>('GET', '/v1/service-keys'),
  createServiceKey: (body: { name: string; workspaces: string[] }) =>
    call<CreatedServiceKey>('POST', '/v1/service-keys', body),
  deleteServiceKey: (id: string) => call<void>('DELETE', `/v1/service-keys/${enc(id)}`),
};
