import type { ClientRecord } from '../store/store.types';
import { CERTIFICATE_WARNING_MS, expiringCertificate } from './certificate-expiry';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 24 * 60 * 60 * 1000;

function client(overrides: Record<string, unknown> = {}): ClientRecord {
  return {
    id: 'cl_a',
    workspaceId: 'o_one',
    name: 'mTLS',
    type: 'oauth_client_credentials',
    clientId: 'svc',
    tokenUrl: 'https://idp.example.com/token',
    scope: null,
    tokenRequestFormat: 'form',
    tokenEndpointAuthMethod: 'tls_client_auth',
    secretHint: 'wxyz',
    sealedSecret: null,
    certificateExpiresAt: new Date(NOW + 10 * DAY).toISOString(),
    generation: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('expiringCertificate', () => {
  it('is 14 days', () => {
    expect(CERTIFICATE_WARNING_MS).toBe(14 * DAY);
  });

  it('answers the notAfter of a tls_client_auth certificate within 14 days, or past, and null otherwise', () => {
    const at = (ms: number) => new Date(ms).toISOString();
    expect(expiringCertificate(client(), NOW)).toBe(at(NOW + 10 * DAY));
    expect(expiringCertificate(client({ certificateExpiresAt: at(NOW + 14 * DAY) }), NOW)).toBe(at(NOW + 14 * DAY));
    expect(expiringCertificate(client({ certificateExpiresAt: at(NOW + 14 * DAY + 1) }), NOW)).toBeNull();
    expect(expiringCertificate(client({ certificateExpiresAt: at(NOW + 30 * DAY) }), NOW)).toBeNull();
    expect(expiringCertificate(client({ certificateExpiresAt: at(NOW - DAY) }), NOW)).toBe(at(NOW - DAY));
  });

  it('is null for another method, an API key, or no known expiry', () => {
    expect(expiringCertificate(client({ tokenEndpointAuthMethod: 'private_key_jwt' }), NOW)).toBeNull();
    expect(expiringCertificate(client({ certificateExpiresAt: null }), NOW)).toBeNull();
    expect(expiringCertificate(client({ certificateExpiresAt: undefined }), NOW)).toBeNull();
    const apiKey = client({ type: 'api_key', clientId: null, tokenUrl: null, tokenEndpointAuthMethod: undefined });
    expect(expiringCertificate(apiKey, NOW)).toBeNull();
  });
});
