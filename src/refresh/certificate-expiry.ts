import { authMethodOf } from '../client-auth/provider-settings';
import type { ClientRecord } from '../store/store.types';

/** SPEC "Webhooks": client.certificate_expiring is raised this close to a certificate's notAfter. */
export const CERTIFICATE_WARNING_MS = 14 * 24 * 60 * 60 * 1000;

/**
 * The certificate's notAfter when a refresh of this client should raise
 * client.certificate_expiring, else null:
 * a tls_client_auth client whose certificate ends within 14 days of `now`
 * (or has ended: it still needs a person). The once-a-day guard is the
 * store's (raiseCertificateExpiring).
 *
 * Why on refresh: every tls_client_auth client is refreshed before its token
 * ends, by its schedule or by a caller's first fetch, and the refresh already
 * holds the client record, so the check costs nothing and no pass over all
 * clients (or an index of expiry times to keep in step) is needed. A client
 * that is not refreshed at all (rejected, waiting for a person) is not
 * warned about its certificate; its state already asks for one.
 */
export function expiringCertificate(client: ClientRecord, now: number): string | null {
  if (client.type !== 'oauth_client_credentials' || authMethodOf(client) !== 'tls_client_auth') return null;
  const notAfter = client.certificateExpiresAt ?? null;
  const expiresAt = notAfter === null ? NaN : Date.parse(notAfter);
  return Number.isFinite(expiresAt) && expiresAt - now <= CERTIFICATE_WARNING_MS ? notAfter : null;
}
