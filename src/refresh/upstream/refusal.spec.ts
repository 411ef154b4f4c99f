import { refusalKindOf } from './refusal';
import type { RejectedOutcome } from './upstream.types';

const refusal = (error: string | null, httpStatus: number | null): RejectedOutcome => ({
  kind: 'rejected',
  httpStatus,
  error,
  description: 'Client authentication failed for [redacted] (free text)',
});

describe('refusalKindOf', () => {
  const registered = [
    'invalid_client',
    'unauthorized_client',
    'invalid_scope',
    'invalid_request',
    'invalid_grant',
    'unsupported_grant_type',
  ];

  it.each(registered)('names a registered OAuth error code: %s', (code) => {
    expect(refusalKindOf(refusal(code, 400))).toBe(code);
  });

  it.each(['address_not_allowed', 'invalid_url', 'redirect'])('names the broker’s own refusals: %s', (code) => {
    expect(refusalKindOf(refusal(code, null))).toBe(code);
  });

  it('gives the HTTP status for an unregistered or missing code, never its text', () => {
    expect(refusalKindOf(refusal('bad secret [redacted] given', 400))).toBe('HTTP 400');
    expect(refusalKindOf(refusal('Invalid_Client', 401))).toBe('HTTP 401');
    expect(refusalKindOf(refusal(null, 403))).toBe('HTTP 403');
    expect(refusalKindOf(refusal(null, null))).toBe('refused');
  });
});
