import type { AuthMethod, ClientType, SigningAlg, TokenRequestFormat } from '../../api';
import { extraParamsOf, type ParamRow } from '../../components/extra-params-rows';

/** The registration form's state: secret material lives only here, in memory, until it is sent. */
export interface Draft {
  type: ClientType;
  workspaceId: string;
  name: string;
  clientId: string;
  /** The client secret or the API key. */
  secret: string;
  tokenUrl: string;
  scope: string;
  tokenRequestFormat: TokenRequestFormat;
  tokenEndpointAuthMethod: AuthMethod;
  /** PKCS#8 PEM, read from a file (private_key_jwt, tls_client_auth). */
  privateKey: string;
  /** PEM, chain allowed, read from a file (tls_client_auth). */
  clientCertificate: string;
  keyId: string;
  /** '' lets the broker pick by key type. */
  signingAlg: SigningAlg | '';
  params: ParamRow[];
  /** '' for the broker's default (3600). */
  defaultExpiresInSeconds: string;
}

export const EMPTY_DRAFT: Draft = {
  type: 'oauth_client_credentials',
  workspaceId: '',
  name: '',
  clientId: '',
  secret: '',
  tokenUrl: '',
  scope: '',
  tokenRequestFormat: 'json',
  tokenEndpointAuthMethod: 'client_secret_post',
  privateKey: '',
  clientCertificate: '',
  keyId: '',
  signingAlg: '',
  params: [],
  defaultExpiresInSeconds: '',
};

/** SPEC: json (Pipedream's) goes with client_secret_post only; every other method sends the RFC 6749 form. */
export function formatFor(method: AuthMethod, asked: TokenRequestFormat): TokenRequestFormat {
  return method === 'client_secret_post' ? asked : 'form';
}

/** The secret material of the draft's method, as POST /v1/clients takes it. */
export function materialOf(draft: Draft): Record<string, string> {
  switch (draft.tokenEndpointAuthMethod) {
    case 'private_key_jwt':
      return {
        privateKey: draft.privateKey,
        ...(draft.keyId.trim() ? { keyId: draft.keyId.trim() } : {}),
        ...(draft.signingAlg ? { signingAlg: draft.signingAlg } : {}),
      };
    case 'tls_client_auth':
      return { clientCertificate: draft.clientCertificate, privateKey: draft.privateKey };
    default:
      return { clientSecret: draft.secret };
  }
}

/** A whole number as typed, or the text itself so the broker's 400 names the field. */
function secondsOf(text: string): number | string {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text;
}

/** The POST /v1/clients body of a draft: only the fields of its type and method, and no empty optional ones. */
export function registrationBody(draft: Draft): Record<string, unknown> {
  const common = { workspaceId: draft.workspaceId.trim(), name: draft.name.trim(), type: draft.type };
  if (draft.type === 'api_key') return { ...common, apiKey: draft.secret };
  const method = draft.tokenEndpointAuthMethod;
  const params = extraParamsOf(draft.params);
  return {
    ...common,
    clientId: draft.clientId.trim(),
    tokenEndpointAuthMethod: method,
    tokenRequestFormat: formatFor(method, draft.tokenRequestFormat),
    ...materialOf(draft),
    ...(draft.tokenUrl.trim() ? { tokenUrl: draft.tokenUrl.trim() } : {}),
    ...(draft.scope.trim() ? { scope: draft.scope.trim() } : {}),
    ...(Object.keys(params).length > 0 ? { extraParams: params } : {}),
    ...(draft.defaultExpiresInSeconds.trim()
      ? { defaultExpiresInSeconds: secondsOf(draft.defaultExpiresInSeconds) }
      : {}),
  };
}

/** Whether the draft carries what its method needs (the files are required, and file inputs cannot say so themselves once cleared). */
export function materialMissing(draft: Draft): string | null {
  if (draft.type === 'api_key') return null;
  const method = draft.tokenEndpointAuthMethod;
  if (method === 'tls_client_auth' && draft.clientCertificate === '') return 'Choose the client certificate file.';
  if ((method === 'private_key_jwt' || method === 'tls_client_auth') && draft.privateKey === '') {
    return 'Choose the private key file.';
  }
  return null;
}
