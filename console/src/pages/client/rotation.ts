import type { AuthMethod, ClientView } from '../../api';

/** What a client rotates: a secret or key typed (or loaded), or PEM files by upload. */
export type RotationKind = 'api_key' | 'secret' | 'private_key_jwt' | 'tls_client_auth';

export interface Material {
  secret: string;
  privateKey: string;
  clientCertificate: string;
  keyId: string;
}

export const NONE: Material = { secret: '', privateKey: '', clientCertificate: '', keyId: '' };

export function rotationKindOf(client: ClientView): RotationKind {
  if (client.type === 'api_key') return 'api_key';
  const method: AuthMethod | null | undefined = client.tokenEndpointAuthMethod;
  return method === 'private_key_jwt' || method === 'tls_client_auth' ? method : 'secret';
}

export const TITLES: Record<RotationKind, string> = {
  api_key: 'Rotate API key',
  secret: 'Rotate secret',
  private_key_jwt: 'Rotate private key',
  tls_client_auth: 'Rotate certificate and key',
};

/** The PUT /v1/clients/:id/secret body of the client's method, or what is still missing. */
export function rotationBody(kind: RotationKind, material: Material): Record<string, string> | string {
  switch (kind) {
    case 'api_key':
      return material.secret ? { apiKey: material.secret } : 'Enter the new API key.';
    case 'secret':
      return material.secret ? { clientSecret: material.secret } : 'Enter the new client secret.';
    case 'private_key_jwt':
      if (!material.privateKey) return 'Choose the new private key file.';
      return { privateKey: material.privateKey, ...(material.keyId.trim() ? { keyId: material.keyId.trim() } : {}) };
    case 'tls_client_auth':
      if (!material.clientCertificate) return 'Choose the new client certificate file.';
      if (!material.privateKey) return 'Choose the new private key file.';
      return { clientCertificate: material.clientCertificate, privateKey: material.privateKey };
  }
}
