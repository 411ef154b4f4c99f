import type { UpstreamRequestKind } from '../../metrics/metrics.service';
import type { RejectedOutcome } from './upstream.types';

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
export function unsendableOutcome(kind: UpstreamRequestKind, code: string): RejectedOutcome {
  const headerRefused = code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE';
  const description =
    kind === 'api_key_check' && headerRefused
      ? 'the API key contains characters that cannot be sent in an HTTP header; rotate it'
      : `the request could not be written (${code}), so nothing was sent; check the client's settings and credentials`;
  return { kind: 'rejected', httpStatus: null, error: 'request_not_sent', description };
}
