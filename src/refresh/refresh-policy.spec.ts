import { initialStatus, type ClientEntry, type ClientStatus, type StoredToken } from '../store/store.types';
import { decide, nextState, refusalMessage, type RefreshPolicySettings, type RefreshReason } from './refresh-policy';
import { REJECTED_RETRY_MS } from './refresh-timing';
import type { UpstreamOutcome } from './upstream/upstream.types';

const settings: RefreshPolicySettings = {
  minTokenTtlSeconds: 60,
  refreshBeforeSeconds: 600,
  forceRefreshMinIntervalSeconds: 10,
  apiKeyCheckIntervalSeconds: 900,
  upstreamTimeoutMs: 10_000,
};
const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const policy = {
  apply: (of: ClientEntry, answer: UpstreamOutcome, reason: RefreshReason, now: number, askedAt = now) =>
    nextState(of, answer, reason, now, askedAt, settings),
};

function entry(status: Partial<ClientStatus> = {}, token: StoredToken | null = null): ClientEntry {
  return {
    client: {
      id: 'cl_1',
      workspaceId: 'o_1',
      name: 'c',
      type: 'oauth_client_credentials',
      clientId: 'id',
      tokenUrl: 'https://api.pipedream.com/v1/oauth/token',
      scope: null,
      tokenRequestFormat: 'json',
      secretHint: '',
      sealedSecret: 'unused',
      generation: 3,
      createdAt: '',
      updatedAt: '',
    },
    status: { ...initialStatus(), ...status },
    token,
  };
}

describe('nextState (the outcome state machine)', () => {
  it('a token makes the client ready, counts its life from when it was asked for, and schedules it in its window', () => {
    const next = policy.apply(
      entry({ state: 'failing', consecutiveFailures: 3, lastError: 'x' }),
      { kind: 'token', accessToken: 'at', expiresInSeconds: 3600 },
      'scheduled',
      NOW,
      NOW - 2_000,
    );
    expect(next.status).toMatchObject({
      state: 'ready',
      lastError: null,
      failingSince: null,
      consecutiveFailures: 0,
      nextAttemptAt: null,
    });
    expect(next.token).toMatchObject({ expiresAt: NOW - 2_000 + 3_600_000, obtainedAt: NOW - 2_000, generation: 3 });
    expect(next.token?.accessToken).toBe('at');
    expect(next.dueAt).toBeGreaterThanOrEqual(NOW - 2_000 + 3_000_000);
    expect(next.dueAt).toBeLessThanOrEqual(NOW - 2_000 + 3_300_000);
  });

  it('a token that would not outlive MIN_TOKEN_TTL_SECONDS is a failed attempt with backoff', () => {
    const next = policy.apply(entry(), { kind: 'token', accessToken: 'at', expiresInSeconds: 60 }, 'demand', NOW);
    expect(next.token).toBeUndefined();
    expect(next.status).toMatchObject({ state: 'failing', consecutiveFailures: 1 });
    expect(next.status.lastError).toContain('no more than MIN_TOKEN_TTL_SECONDS');
    expect(next.dueAt).toBeGreaterThan(NOW);
  });

  it('refused credentials make the client rejected, keep the held token, and retry in 15 minutes', () => {
    const next = policy.apply(
      entry({ state: 'ready' }),
      { kind: 'rejected', httpStatus: 401, error: 'invalid_client', description: 'revoked' },
      'scheduled',
      NOW,
    );
    expect(next.token).toBeUndefined();
    expect(next.status).toMatchObject({
      state: 'rejected',
      lastError: 'upstream refused the credentials 401 (invalid_client: revoked)',
      failingSince: new Date(NOW).toISOString(),
      nextAttemptAt: NOW + REJECTED_RETRY_MS,
    });
    expect(next.dueAt).toBe(NOW + REJECTED_RETRY_MS);
  });

  it('a transient failure backs off, honours Retry-After, and keeps failingSince from the first failure', () => {
    const since = new Date(NOW - 60_000).toISOString();
    const next = policy.apply(
      entry({ state: 'failing', failingSince: since, consecutiveFailures: 2 }),
      { kind: 'transient', reason: 'HTTP 503', httpStatus: 503, retryAfterSeconds: 30 },
      'scheduled',
      NOW,
    );
    expect(next.status).toMatchObject({
      state: 'failing',
      failingSince: since,
      consecutiveFailures: 3,
      lastError: 'upstream unavailable: HTTP 503',
    });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + 30_000);
    expect(next.dueAt).toBe(next.status.nextAttemptAt);
  });

  it("a refusal by the host's open circuit retries when the circuit allows, without lengthening the client's backoff", () => {
    const next = policy.apply(
      entry({ state: 'failing', consecutiveFailures: 4, failingSince: 'then' }),
      { kind: 'transient', reason: 'circuit open', httpStatus: null, retryAfterSeconds: 5, notSent: true },
      'scheduled',
      NOW,
    );
    expect(next.status).toMatchObject({
      state: 'failing',
      consecutiveFailures: 4,
      lastError: 'upstream unavailable: circuit open',
    });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + 5_000);
    expect(next.status.nextAttemptAt).toBeLessThanOrEqual(NOW + 6_000);
  });

  it('a transient failure of a rejected client keeps it rejected, with what the upstream said and the slow retry', () => {
    const rejected = entry({
      state: 'rejected',
      lastError: 'upstream refused the credentials 401',
      failingSince: 'then',
    });
    const next = policy.apply(
      rejected,
      { kind: 'transient', reason: 'HTTP 503', httpStatus: 503, retryAfterSeconds: null },
      'scheduled',
      NOW,
    );
    expect(next.status).toMatchObject({
      state: 'rejected',
      lastError: 'upstream refused the credentials 401',
      failingSince: 'then',
    });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + REJECTED_RETRY_MS);
  });

  it('a forced refresh records when it reached the upstream', () => {
    const next = policy.apply(entry(), { kind: 'token', accessToken: 'at', expiresInSeconds: 3600 }, 'forced', NOW);
    expect(next.status.lastForcedRefreshAt).toBe(NOW);
  });
});

describe('refusalMessage', () => {
  it('words a refusal once, with or without the HTTP status', () => {
    const refused = { kind: 'rejected' as const, httpStatus: 401, error: 'invalid_client', description: null };
    expect(refusalMessage(refused)).toBe('upstream refused the credentials 401 (invalid_client)');
    expect(refusalMessage(refused, 'the new credentials', false)).toBe(
      'upstream refused the new credentials (invalid_client)',
    );
    expect(refusalMessage({ ...refused, httpStatus: null, error: null })).toBe('upstream refused the credentials');
  });
});

describe('decide', () => {
  const opens = () => true;
  const never = () => false;
  /** A token of the current generation (3), obtained at `obtainedAt`, living an hour. */
  function token(obtainedAt: number, overrides: Partial<StoredToken> = {}): StoredToken {
    return { sealedAccessToken: 'sealed', obtainedAt, expiresAt: obtainedAt + 3_600_000, generation: 3, ...overrides };
  }
  function apiKey(status: Partial<ClientStatus>): ClientEntry {
    const base = entry(status);
    return {
      ...base,
      client: { ...base.client, type: 'api_key', clientId: null, tokenUrl: null, scope: null, sealedSecret: 'unused' },
    };
  }

  it('a forced refresh reaches the upstream, unless one did within FORCE_REFRESH_MIN_INTERVAL_SECONDS', () => {
    expect(decide(entry({ state: 'ready' }), 'forced', NOW, settings, opens)).toBe('refresh');
    expect(decide(entry({ state: 'ready', lastForcedRefreshAt: NOW - 5_000 }), 'forced', NOW, settings, opens)).toEqual(
      { dueAt: NOW },
    );
    expect(decide(entry({ state: 'ready', lastForcedRefreshAt: NOW - 10_000 }), 'forced', NOW, settings, opens)).toBe(
      'refresh',
    );
  });

  it('a forced refresh never reaches the upstream for a rejected client, nor for a failing one backing off', () => {
    expect(decide(entry({ state: 'rejected' }), 'forced', NOW, settings, opens)).toEqual({ dueAt: NOW });
    expect(decide(entry({ state: 'failing', nextAttemptAt: NOW + 1_000 }), 'forced', NOW, settings, opens)).toEqual({
      dueAt: NOW,
    });
    expect(decide(entry({ state: 'failing', nextAttemptAt: NOW - 1 }), 'forced', NOW, settings, opens)).toBe('refresh');
  });

  it('a failing or rejected client backing off is due when its backoff ends', () => {
    const backingOff = { nextAttemptAt: NOW + 30_000 };
    expect(decide(entry({ state: 'failing', ...backingOff }), 'scheduled', NOW, settings, opens)).toEqual({
      dueAt: NOW + 30_000,
    });
    expect(decide(entry({ state: 'rejected', ...backingOff }), 'demand', NOW, settings, opens)).toEqual({
      dueAt: NOW + 30_000,
    });
  });

  it('once its backoff is over, a failing client is retried; a rejected one only by the schedule, never on demand', () => {
    expect(decide(entry({ state: 'failing', nextAttemptAt: NOW }), 'demand', NOW, settings, opens)).toBe('refresh');
    expect(decide(entry({ state: 'rejected', nextAttemptAt: NOW }), 'scheduled', NOW, settings, opens)).toBe('refresh');
    expect(decide(entry({ state: 'rejected', nextAttemptAt: null }), 'demand', NOW, settings, opens)).toEqual({
      dueAt: NOW,
    });
  });

  it('an API key is checked again API_KEY_CHECK_INTERVAL_SECONDS after the last check, and at once if never checked', () => {
    const checkedAt = NOW - 100_000;
    const checked = apiKey({ state: 'ready', lastRefreshAt: new Date(checkedAt).toISOString() });
    expect(decide(checked, 'scheduled', NOW, settings, opens)).toEqual({ dueAt: checkedAt + 900_000 });
    expect(decide(checked, 'scheduled', checkedAt + 900_000, settings, opens)).toBe('refresh');
    expect(decide(apiKey({ state: 'pending' }), 'demand', NOW, settings, opens)).toBe('refresh');
  });

  it('an OAuth client without a token is refreshed', () => {
    expect(decide(entry(), 'scheduled', NOW, settings, opens)).toBe('refresh');
  });

  it('in its refresh window a token is refreshed by the schedule without being opened', () => {
    // An hour-long token: its window is the last REFRESH_BEFORE_SECONDS (600 s).
    const held = entry({ state: 'ready' }, token(NOW - 3_000_000));
    let asked = false;
    const tokenOpens = () => (asked = true);
    expect(decide(held, 'scheduled', NOW, settings, tokenOpens)).toBe('refresh');
    expect(asked).toBe(false);
  });

  it('a token that is not servable (old generation, too short-lived, or not opening) is refreshed', () => {
    expect(decide(entry({ state: 'ready' }, token(NOW, { generation: 2 })), 'demand', NOW, settings, opens)).toBe(
      'refresh',
    );
    const nearlyExpired = token(NOW - 3_000_000, { expiresAt: NOW + 60_000 });
    expect(decide(entry({ state: 'ready' }, nearlyExpired), 'demand', NOW, settings, opens)).toBe('refresh');
    expect(decide(entry({ state: 'ready' }, token(NOW)), 'demand', NOW, settings, never)).toBe('refresh');
  });

  it('a servable token is served on demand at once, and on the schedule left until its window', () => {
    const held = entry({ state: 'ready' }, token(NOW));
    expect(decide(held, 'demand', NOW, settings, opens)).toEqual({ dueAt: NOW });
    const scheduled = decide(held, 'scheduled', NOW, settings, opens);
    expect(scheduled).not.toBe('refresh');
    const { dueAt } = scheduled as { dueAt: number };
    expect(dueAt).toBeGreaterThanOrEqual(NOW + 3_000_000);
    expect(dueAt).toBeLessThanOrEqual(NOW + 3_300_000);
  });
});

describe('nextState for API keys', () => {
  it('a valid API key makes the client ready, keeps no token, and checks again after the interval', () => {
    const next = policy.apply(entry({ state: 'failing', consecutiveFailures: 2 }), { kind: 'valid' }, 'scheduled', NOW);
    expect(next.status).toMatchObject({
      state: 'ready',
      lastRefreshAt: new Date(NOW).toISOString(),
      consecutiveFailures: 0,
    });
    expect(next.token).toBeUndefined();
    expect(next.dueAt).toBe(NOW + 900_000);
  });
});
