import type { UpstreamRequestKind } from '../../metrics/metrics.service';
import { ADDRESS_NOT_ALLOWED } from './address-guard';
import type { RejectedOutcome, UpstreamOutcome } from './upstream.types';

/** An outcome, and whether it says anything about the host (a request refused before it left says nothing). */
export interface Exchanged {
  outcome: UpstreamOutcome;
  aboutHost: boolean;
}

/**
 * Node threw while building the request (a header value with a line break,
 * say): nothing left this process, so the host's circuit must not hear of it.
 */
export class RequestNotSent extends Error {
  constructor(readonly code: string) {
    super(`request not sent (${code})`);
  }
}

/** Only a change to what the request is built from can fix it. Never quotes the value. */
function unsendableOutcome(kind: UpstreamRequestKind, code: string): RejectedOutcome {
  const headerRefused = code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE';
  const description =
    kind === 'api_key_check' && headerRefused
      ? 'the API key contains characters that cannot be sent in an HTTP header; rotate it'
      : `the request could not be written (${code}), so nothing was sent; check the client's settings and credentials`;
  return { kind: 'rejected', httpStatus: null, error: 'request_not_sent', description };
}

/**
 * What a request that got no answer came to. Refused before a byte left, by
 * the address guard or because Node would not write it (a header value with a
 * line break), it is this client's problem and says nothing of the host.
 */
export function unanswered(error: Error, kind: UpstreamRequestKind): Exchanged {
  if (error instanceof RequestNotSent) return { outcome: unsendableOutcome(kind, error.code), aboutHost: false };
  if ((error as NodeJS.ErrnoException).code === ADDRESS_NOT_ALLOWED) {
    const description = 'the token URL host name resolves to a loopback, private or link-local address; not contacted';
    const outcome: RejectedOutcome = { kind: 'rejected', httpStatus: null, error: 'address_not_allowed', description };
    return { outcome, aboutHost: false };
  }
  return {
    outcome: { kind: 'transient', reason: error.message, httpStatus: null, retryAfterSeconds: null },
    aboutHost: true,
  };
}
