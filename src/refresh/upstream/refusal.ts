import type { RejectedOutcome } from './upstream.types';

/**
 * Error codes that name a kind of refusal and nothing else: those of RFC 6749
 * section 5.2, and the ones the upstream client gives its own refusals.
 */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'address_not_allowed',
  'invalid_url',
  'redirect',
]);

/**
 * What kind of refusal an outcome was, fit for any caller: a registered error
 * code, else the HTTP status. Never the upstream's free text, which even
 * redacted is for admins only (an `error` that is not a registered code is free text too).
 */
export function refusalKindOf(outcome: RejectedOutcome): string {
  if (outcome.error !== null && REFUSAL_CODES.has(outcome.error)) return outcome.error;
  return outcome.httpStatus === null ? 'refused' : `HTTP ${outcome.httpStatus}`;
}
