import type { Agent } from 'node:https';
import type { KeyObject } from 'node:crypto';
import type { SigningAlg, TokenRequestFormat } from '../../store/store.types';

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

/** How the client proves itself at the token URL, with the material its method needs. */
export type ClientProof =
  | { method: 'client_secret_post' | 'client_secret_basic'; clientSecret: string }
  | { method: 'private_key_jwt'; privateKey: KeyObject; privateKeyPem: string; keyId: string | null; alg: SigningAlg }
  /** The agent holds the certificate and key; the PEM texts are kept for redaction only. */
  | { method: 'tls_client_auth'; agent: Agent; privateKeyPem: string; certificatePem: string };

export interface TokenRequest extends UpstreamCaller {
  tokenUrl: string;
  clientId: string;
  scope: string | null;
  /** `json` only with client_secret_post; every other method sends the RFC 6749 form. */
  format: TokenRequestFormat;
  proof: ClientProof;
  /** Added to the body (`audience`, `resource`); never one of the names the broker sets. */
  extraParams: Record<string, string>;
  /** The lifetime assumed when the answer has no `expires_in`. */
  defaultExpiresInSeconds: number;
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
