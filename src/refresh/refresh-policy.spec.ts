import { parseConfig } from '../config/config';
import { SecretBox, tokenContext } from '../crypto/secret-box';
import { initialStatus, type ClientEntry, type ClientStatus } from '../store/store.types';
import { RefreshService } from './refresh.service';
import { REJECTED_RETRY_MS } from './refresh-timing';

const config = parseConfig({ MIN_TOKEN_TTL_SECONDS: '60', REFRESH_BEFORE_SECONDS: '600' });
const box = new SecretBox(config.encryptionKeys);
// apply() is the pure state machine: it needs the configuration and the key ring only.
const service = new RefreshService(config, null!, null!, box, null!, null!, null!);
const NOW = Date.parse('2026-01-01T00:00:00.000Z');

function entry(status: Partial<ClientStatus> = {}): ClientEntry {
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
    token: null,
  };
}

describe('RefreshService.apply', () => {
  it('a token makes the client ready, counts its life from when it was asked for, and schedules it in its window', () => {
    const next = service.apply(entry({ state: 'failing', consecutiveFailures: 3, lastError: 'x' }), { kind: 'token', accessToken: 'at', expiresInSeconds: 3600 }, 'scheduled', NOW, NOW - 2_000);
    expect(next.status).toMatchObject({ state: 'ready', lastError: null, failingSince: null, consecutiveFailures: 0, nextAttemptAt: null });
    expect(next.token).toMatchObject({ expiresAt: NOW - 2_000 + 3_600_000, obtainedAt: NOW - 2_000, generation: 3 });
    expect(box.open(next.token!.sealedAccessToken, tokenContext('cl_1'))).toBe('at');
    expect(next.dueAt).toBeGreaterThanOrEqual(NOW - 2_000 + 3_000_000);
    expect(next.dueAt).toBeLessThanOrEqual(NOW - 2_000 + 3_300_000);
  });

  it('a token that would not outlive MIN_TOKEN_TTL_SECONDS is a failed attempt with backoff', () => {
    const next = service.apply(entry(), { kind: 'token', accessToken: 'at', expiresInSeconds: 60 }, 'demand', NOW);
    expect(next.token).toBeUndefined();
    expect(next.status).toMatchObject({ state: 'failing', consecutiveFailures: 1 });
    expect(next.status.lastError).toContain('no more than MIN_TOKEN_TTL_SECONDS');
    expect(next.dueAt).toBeGreaterThan(NOW);
  });

  it('refused credentials make the client rejected, keep the held token, and retry in 15 minutes', () => {
    const next = service.apply(entry({ state: 'ready' }), { kind: 'rejected', httpStatus: 401, error: 'invalid_client', description: 'revoked' }, 'scheduled', NOW);
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
    const next = service.apply(entry({ state: 'failing', failingSince: since, consecutiveFailures: 2 }), { kind: 'transient', reason: 'HTTP 503', httpStatus: 503, retryAfterSeconds: 30 }, 'scheduled', NOW);
    expect(next.status).toMatchObject({ state: 'failing', failingSince: since, consecutiveFailures: 3, lastError: 'upstream unavailable: HTTP 503' });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + 30_000);
    expect(next.dueAt).toBe(next.status.nextAttemptAt);
  });

  it("a refusal by the host's open circuit retries when the circuit allows, without lengthening the client's backoff", () => {
    const next = service.apply(entry({ state: 'failing', consecutiveFailures: 4, failingSince: 'then' }), { kind: 'transient', reason: 'circuit open', httpStatus: null, retryAfterSeconds: 5, notSent: true }, 'scheduled', NOW);
    expect(next.status).toMatchObject({ state: 'failing', consecutiveFailures: 4, lastError: 'upstream unavailable: circuit open' });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + 5_000);
    expect(next.status.nextAttemptAt).toBeLessThanOrEqual(NOW + 6_000);
  });

  it('a transient failure of a rejected client keeps it rejected, with what the upstream said and the slow retry', () => {
    const rejected = entry({ state: 'rejected', lastError: 'upstream refused the credentials 401', failingSince: 'then' });
    const next = service.apply(rejected, { kind: 'transient', reason: 'HTTP 503', httpStatus: 503, retryAfterSeconds: null }, 'scheduled', NOW);
    expect(next.status).toMatchObject({ state: 'rejected', lastError: 'upstream refused the credentials 401', failingSince: 'then' });
    expect(next.status.nextAttemptAt).toBeGreaterThanOrEqual(NOW + REJECTED_RETRY_MS);
  });

  it('a forced refresh records when it reached the upstream', () => {
    const next = service.apply(entry(), { kind: 'token', accessToken: 'at', expiresInSeconds: 3600 }, 'forced', NOW);
    expect(next.status.lastForcedRefreshAt).toBe(NOW);
  });
});
