import type { TokenRequestFormat } from '../../store/store.types';

export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string | null;
  format: TokenRequestFormat;
}

/**
 * What an upstream request came to. `rejected` means the upstream refused the
 * request as configured (secret, key, scope, URL): retrying will not help until
 * an admin changes something. `transient` means it may work later.
 */
export type UpstreamOutcome =
  | { kind: 'token'; accessToken: string; expiresInSeconds: number }
  | { kind: 'valid' }
  | { kind: 'rejected'; httpStatus: number | null; error: string | null; description: string | null }
  | {
      kind: 'transient';
      reason: string;
      httpStatus: number | null;
      retryAfterSeconds: number | null;
      /** Set when nothing was sent: the host's circuit is open. Says nothing new about this client. */
      notSent?: true;
    };

export type RejectedOutcome = Extract<UpstreamOutcome, { kind: 'rejected' }>;
export type TransientOutcome = Extract<UpstreamOutcome, { kind: 'transient' }>;
