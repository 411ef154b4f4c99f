import type { ClientView } from '../../api';
import { formatTime } from '../../format';

const KEY_METHODS = ['private_key_jwt', 'tls_client_auth'];

/** "audience=https://api…, resource=…", or "none". */
export function paramsText(params: Record<string, string> | null | undefined): string {
  const entries = Object.entries(params ?? {});
  return entries.length === 0 ? 'none' : entries.map(([name, value]) => `${name}=${value}`).join(', ');
}

/** The provider settings of an OAuth client, those of its method only. */
function providerRows(client: ClientView): [string, string][] {
  const method = client.tokenEndpointAuthMethod;
  if (client.type === 'api_key' || method === undefined) return [];
  const rows: [string, string][] = [['Authentication', method ?? '—']];
  if (method === 'private_key_jwt') {
    rows.push(['Signing algorithm', client.signingAlg ?? '—'], ['Key id', client.keyId ?? '—']);
  }
  if (method === 'tls_client_auth') rows.push(['Certificate expires', formatTime(client.certificateExpiresAt)]);
  rows.push(
    ['Extra parameters', paramsText(client.extraParams)],
    ['Default lifetime', client.defaultExpiresInSeconds ? `${client.defaultExpiresInSeconds} s` : '—'],
  );
  return rows;
}

/** What the client page lists of a client: never secret material, only its hint. */
export function detailRows(client: ClientView): [string, string][] {
  const keyMethod = KEY_METHODS.includes(client.tokenEndpointAuthMethod ?? '');
  const hint = client.secretHint ? `…${client.secretHint}` : '—';
  return [
    ['Id', client.id],
    ['Workspace', client.workspaceId],
    ['Type', client.type],
    ['Client id', client.clientId ?? '—'],
    ['Token URL', client.tokenUrl ?? 'default'],
    ['Scope', client.scope ?? '—'],
    ['Request format', client.tokenRequestFormat],
    ...providerRows(client),
    keyMethod ? ['Key thumbprint ends with', hint] : ['Secret ends with', hint],
    ['Created', formatTime(client.createdAt)],
    ['Updated', formatTime(client.updatedAt)],
    ...(client.status.lastServedAt !== undefined
      ? [['Token last served', formatTime(client.status.lastServedAt)] as [string, string]]
      : []),
  ];
}
