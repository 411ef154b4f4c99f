import { isKeyMethod } from '../client-auth/provider-settings';
import type { ClientView } from '../clients/client-view';
import { printFields, printTable } from './output';

export function printClientTable(items: ClientView[]): void {
  printTable(
    ['ID', 'WORKSPACE', 'NAME', 'TYPE', 'CLIENT ID', 'STATE', 'TOKEN EXPIRES'],
    items.map((c) => [c.id, c.workspaceId, c.name, c.type, c.clientId, c.status.state, c.status.tokenExpiresAt]),
  );
}

export function printClient(c: ClientView): void {
  const method = c.type === 'api_key' ? null : c.tokenEndpointAuthMethod;
  const fields: Field[] = [
    ['id', c.id],
    ['workspace', c.workspaceId],
    ['name', c.name],
    ['type', c.type],
    ['client id', c.clientId],
    ['token url', c.tokenUrl],
    ['scope', c.scope],
    ['request format', c.tokenRequestFormat],
  ];
  // The provider settings of OAuth clients; an api_key client has none.
  if (method !== null) {
    fields.push(['auth method', method]);
    if (method === 'private_key_jwt') fields.push(['key id', c.keyId], ['signing alg', c.signingAlg]);
    if (method === 'tls_client_auth') fields.push(['certificate expires', c.certificateExpiresAt]);
    fields.push(
      ['extra params', formatExtraParams(c.extraParams)],
      ['default expires in', c.defaultExpiresInSeconds === null ? null : `${c.defaultExpiresInSeconds} s`],
    );
  }
  fields.push(
    // A key's hint is the end of its public key's JWK thumbprint.
    [method !== null && isKeyMethod(method) ? 'key hint' : 'secret hint', c.secretHint ? `...${c.secretHint}` : null],
    ['state', c.status.state],
    ['token expires', c.status.tokenExpiresAt],
    ['last refresh', c.status.lastRefreshAt],
    ['last served', c.status.lastServedAt],
    ['last error', c.status.lastError],
    ['failing since', c.status.failingSince],
    ['created', c.createdAt],
    ['updated', c.updatedAt],
  );
  printFields(fields);
}

type Field = [string, string | number | null | undefined];

function formatExtraParams(params: Record<string, string> | null): string | null {
  if (params === null || Object.keys(params).length === 0) return null;
  return Object.entries(params)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
}
