import type { UpstreamRequestKind } from '../../metrics/metrics.service';
import type { HttpAnswer } from './http-exchange';
import type { Redactor } from './redaction';
import { tokenOutcomeOf } from './token-answer';
import type { UpstreamOutcome } from './upstream.types';

/** Turns a complete HTTP answer into an UpstreamOutcome; everything quoted from the body goes through the redactor. */

export function classify(
  answer: HttpAnswer,
  kind: UpstreamRequestKind,
  redactor: Redactor,
  defaultExpiresIn: number,
): UpstreamOutcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return kind === 'token' ? readToken(answer, defaultExpiresIn) : { kind: 'valid' };
  if (status >= 300 && status < 400) {
    return {
      kind: 'rejected',
      httpStatus: status,
      error: 'redirect',
      description: `answered HTTP ${status}, a redirect; redirects are not followed`,
    };
  }
  // The API-key check is refused only by 401 and 403; any other 4xx there (a 404 from a wrong
  // PIPEDREAM_API_BASE, say) says nothing about the key, so it must not reject every API-key client.
  const refused =
    kind === 'token'
      ? status >= 400 && status < 500 && status !== 408 && status !== 429
      : status === 401 || status === 403;
  if (refused) {
    const body = parseJsonObject(answer.body);
    return {
      kind: 'rejected',
      httpStatus: status,
      error: redactor.clean(body?.error),
      description: redactor.clean(body?.error_description),
    };
  }
  const reason =
    status === 429
      ? 'rate limited (HTTP 429)'
      : status === 408 || status >= 500
        ? `HTTP ${status}`
        : `unexpected HTTP status ${status}`;
  return {
    kind: 'transient',
    reason,
    httpStatus: status,
    retryAfterSeconds: parseRetryAfter(answer.headers['retry-after']),
  };
}

function readToken(answer: HttpAnswer, defaultExpiresIn: number): UpstreamOutcome {
  const retryAfter = parseRetryAfter(answer.headers['retry-after']);
  return tokenOutcomeOf(parseJsonObject(answer.body), answer.status, retryAfter, defaultExpiresIn);
}

function parseJsonObject(body: Buffer): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Retry-After as delta-seconds or an HTTP-date, in whole seconds from now. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form starts with a day name; Date.parse alone would also
  // take things like "-5" for a year.
  const at = /^[A-Za-z]{3}/.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1_000));
}
