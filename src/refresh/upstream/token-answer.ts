import type { UpstreamOutcome } from './upstream.types';

/**
 * The longest token lifetime believed: an `expires_in` beyond a year is a
 * broken upstream (or a unit mix-up, milliseconds for seconds), and dates that
 * far out stop being representable once added to now (1e13 s overflows Date).
 */
export const MAX_EXPIRES_IN_SECONDS = 365 * 24 * 3_600;

export type ExpiresInReading = { seconds: number } | { missing: true } | { invalid: string };

/**
 * Reads an OAuth token answer's `expires_in` (RFC 6749 section 5.1: a number of
 * seconds; some upstreams send it as a string). Fractions are cut to whole
 * seconds; zero, negative, non-numeric or over a year is invalid: the answer
 * says the token is already dead or says nothing usable, so it is not served.
 */
export function readExpiresIn(value: unknown): ExpiresInReading {
  if (value === undefined || value === null) return { missing: true };
  const seconds =
    typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(seconds)) return { invalid: 'expires_in is not a number' };
  const whole = Math.floor(seconds);
  if (whole < 1) return { invalid: 'expires_in is not a positive number of seconds' };
  if (whole > MAX_EXPIRES_IN_SECONDS) return { invalid: `expires_in is over ${MAX_EXPIRES_IN_SECONDS} s (one year)` };
  return { seconds: whole };
}

/**
 * The outcome of a 2xx token answer's parsed body: a token with its lifetime,
 * or a transient failure (retried with backoff) when the answer is unusable.
 */
export function tokenOutcomeOf(
  body: Record<string, unknown> | null,
  httpStatus: number,
  retryAfterSeconds: number | null,
  defaultExpiresInSeconds: number,
): UpstreamOutcome {
  const accessToken = body?.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    return { kind: 'transient', reason: `HTTP ${httpStatus} without an access_token`, httpStatus, retryAfterSeconds };
  }
  const expiresIn = readExpiresIn(body?.expires_in);
  if ('invalid' in expiresIn) {
    return {
      kind: 'transient',
      reason: `HTTP ${httpStatus} with an invalid ${expiresIn.invalid}`,
      httpStatus,
      retryAfterSeconds,
    };
  }
  const expiresInSeconds = 'seconds' in expiresIn ? expiresIn.seconds : defaultExpiresInSeconds;
  return { kind: 'token', accessToken, expiresInSeconds };
}
