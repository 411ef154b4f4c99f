import type { TokenRequestFormat } from '../../store/store.types';

/** Who a request is for: the host's circuit tells one client's failures from many clients'. */
export interface UpstreamCaller {
  /** The broker's id of the client the request is for. */
  clientKey: string;
  /** The client's workspace: for traces only. */
  workspaceId?: string;
  /**
   * A rotation's verification, asked for by an admin: sent whatever the
   * circuit says, and its answer counts as the probe.
   */
  verification?: boolean;
}

export interface TokenRequest extends UpstreamCaller {
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
