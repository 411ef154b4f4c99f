import { SchedulerRegistry } from '@nestjs/schedule';
import { AuditService } from '../audit/audit.service';
import { BrokerError } from '../common/broker-error';
import type { AppLogger } from '../common/logger';
import { parseConfig, type AppConfig } from '../config/config';
import { SecretBox, secretContext, tokenContext } from '../crypto/secret-box';
import { MetricsService } from '../metrics/metrics.service';
import { TracingService } from '../tracing/tracing.service';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import { initialStatus, type ClientEntry } from '../store/store.types';
import { FakePipedream } from '../../test/support/fake-pipedream';
import { LOCK_TTL_MS, LockManager } from './lock-manager';
import { RefreshFacade } from './refresh.facade';
import { RefreshScheduler } from './refresh.scheduler';
import { Refresher } from './refresher';
import { ClientTlsAgents } from './upstream/tls-agents';
import { UpstreamClient } from './upstream/upstream.client';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as AppLogger;
const admin = { kind: 'admin', actor: 'admin:0123abcd' } as const;

/** The refresh module's units, built by hand on the memory store and a real fake upstream. */
function build(fake: FakePipedream) {
  const config: AppConfig = parseConfig({ TOKEN_URL_ALLOWLIST: 'http://127.0.0.1', PIPEDREAM_API_BASE: fake.baseUrl });
  const store = new MemoryStore();
  const events = new StoreEventsService(store);
  events.onModuleInit();
  const box = new SecretBox(config.encryptionKeys);
  const metrics = new MetricsService();
  const registry = new SchedulerRegistry();
  const locks = new LockManager(store, registry);
  const tracing = new TracingService(config);
  const upstream = new UpstreamClient(config, metrics, tracing);
  const tlsAgents = new ClientTlsAgents(events, metrics, store, silent);
  const refresher = new Refresher(
    config,
    store,
    silent,
    box,
    upstream,
    events,
    new AuditService(store, config, silent),
    locks,
    tracing,
    tlsAgents,
  );
  const scheduler = new RefreshScheduler(config, store, silent, refresher, metrics, registry, events, () => 0);
  const facade = new RefreshFacade(config, store, refresher, scheduler);
  return { config, store, box, locks, refresher, facade };
}

function oauthEntry(box: SecretBox, tokenUrl: string, secret = 'secret-1'): ClientEntry {
  const now = new Date().toISOString();
  return {
    client: {
      id: 'cl_1',
      workspaceId: 'o_1',
      name: 'c',
      type: 'oauth_client_credentials',
      clientId: 'client-1',
      tokenUrl,
      scope: null,
      tokenRequestFormat: 'json',
      secretHint: '',
      sealedSecret: box.seal(secret, secretContext('cl_1')),
      generation: 1,
      createdAt: now,
      updatedAt: now,
    },
    status: initialStatus(),
    token: null,
  };
}

describe('Refresher, LockManager and RefreshFacade', () => {
  let fake: FakePipedream;
  let units: ReturnType<typeof build>;

  beforeEach(async () => {
    fake = await FakePipedream.start();
    fake.addClient('client-1', 'secret-1');
    units = build(fake);
  });

  afterEach(async () => {
    await units.store.close();
    await fake.stop();
  });

  it('a refresh writes the token and releases its lock; callers of one reason join one upstream request', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());

    await Promise.all([refresher.refresh('cl_1', 'demand'), refresher.refresh('cl_1', 'demand')]);

    const entry = await store.getClient('cl_1');
    expect(entry?.status.state).toBe('ready');
    expect(entry?.token && box.open(entry.token.sealedAccessToken, tokenContext('cl_1', entry.token))).toBe(
      fake.issued[0].accessToken,
    );
    expect(fake.tokenRequestCount('client-1')).toBe(1);
    expect(await store.lockAndRead('cl_1', 'someone-else', LOCK_TTL_MS)).toMatchObject({ locked: true });
  });

  it('a scheduled refresh that finds the client locked leaves it and looks again in 2 s', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());
    await store.lockAndRead('cl_1', 'another-replica', LOCK_TTL_MS);

    const before = Date.now();
    await refresher.refresh('cl_1', 'scheduled');

    expect(fake.tokenRequestCount('client-1')).toBe(0);
    const { due } = await store.claimDue(before + 10_000, before + 20_000, 10);
    expect(due[0].dueAt).toBeGreaterThanOrEqual(before + 2_000);
    expect(due[0].dueAt).toBeLessThan(before + 3_000);
  });

  it('a caller waiting on the lock of another replica waits on through a change event that brought no token', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());
    await store.lockAndRead('cl_1', 'another-replica', LOCK_TTL_MS);
    let settled = false;
    const waiting = refresher.refresh('cl_1', 'demand').then(() => (settled = true));

    // A change announced before the wait (the client's registration, say) arrives late.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.publish({ kind: 'client', id: 'cl_1' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);

    // The holder lets go without a token: the waiter takes the lock and fetches it.
    await store.releaseLock('cl_1', 'another-replica');
    await store.publish({ kind: 'client', id: 'cl_1' });
    await waiting;
    expect(fake.tokenRequestCount('client-1')).toBe(1);
    expect((await store.getClient('cl_1'))?.token).not.toBeNull();
  });

  it('a scheduled refresh that keeps the state reschedules with its write; one that finds the client changed looks again now', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());
    await refresher.refresh('cl_1', 'scheduled');
    /** Puts the held token in its refresh window, and claims the client as the scheduler would (a lease of an hour). */
    const claimInWindow = async () => {
      const entry = (await store.getClient('cl_1'))!;
      const now = Date.now();
      await store.updateClient('cl_1', entry.client.generation, {
        token: { ...entry.token!, obtainedAt: now - 60_000, expiresAt: now + 1_000 },
      });
      expect((await store.claimDue(now + 3_600_000, now + 3_600_000, 10)).due.map(({ id }) => id)).toEqual(['cl_1']);
      return entry;
    };

    await claimInWindow();
    await refresher.refresh('cl_1', 'scheduled');
    expect(fake.tokenRequestCount('client-1')).toBe(2);
    const refreshed = (await store.getClient('cl_1'))!;
    expect(refreshed.status.state).toBe('ready');
    const { nextDueAt } = await store.tokenStats(10);
    expect(nextDueAt).toBeGreaterThan(Date.now());
    expect(nextDueAt).toBeLessThan(refreshed.token!.expiresAt);

    // An admin's write lands while the upstream answers: the refresh's write is stale, and the client due now.
    const claimed = await claimInWindow();
    fake.setDelay(300);
    const refreshing = refresher.refresh('cl_1', 'scheduled');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await store.updateClient('cl_1', 1, { client: { ...claimed.client, name: 'renamed', generation: 2 } });
    const before = Date.now();
    await refreshing;
    expect(fake.tokenRequestCount('client-1')).toBe(3);
    expect((await store.getClient('cl_1'))?.client.name).toBe('renamed');
    const { nextDueAt: dueAfterStale } = await store.tokenStats(10);
    expect(dueAfterStale).toBeGreaterThanOrEqual(before);
    expect(dueAfterStale).toBeLessThanOrEqual(Date.now());
  });

  it('renews every held lock in one sweep, and releases only its own', async () => {
    const { store, locks } = units;
    const owner = locks.newOwner();
    await expect(locks.take('cl_a', owner)).resolves.toMatchObject({ locked: true });
    await expect(locks.take('cl_b', owner)).resolves.toMatchObject({ locked: true });
    await expect(locks.take('cl_a', locks.newOwner())).resolves.toEqual({ locked: false });

    locks.renewAll();
    await expect(store.releaseLock('cl_a', 'not-the-owner')).resolves.toBe(false);
    await locks.release('cl_a', owner);
    await expect(locks.take('cl_a', locks.newOwner())).resolves.toMatchObject({ locked: true });
  });

  it('a renewed lock outlives its first TTL; one not renewed expires', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    try {
      const { locks } = units;
      await locks.take('cl_renewed', locks.newOwner());
      await locks.take('cl_forgotten', locks.newOwner());
      locks.forget('cl_forgotten');
      await jest.advanceTimersByTimeAsync(LOCK_TTL_MS - 1_000);
      locks.renewAll();
      await jest.advanceTimersByTimeAsync(2_000);

      await expect(locks.take('cl_renewed', 'another-replica')).resolves.toEqual({ locked: false });
      await expect(locks.take('cl_forgotten', 'another-replica')).resolves.toMatchObject({ locked: true });
    } finally {
      jest.useRealTimers();
    }
  });

  it('releaseAll gives back every held lock and makes those clients due now', async () => {
    const { store, locks } = units;
    await locks.take('cl_a', locks.newOwner());
    const before = Date.now();
    await locks.releaseAll();

    await expect(store.lockAndRead('cl_a', 'another-replica', LOCK_TTL_MS)).resolves.toMatchObject({ locked: true });
    const { due } = await store.claimDue(Date.now(), Date.now() + 20_000, 10);
    expect(due.map((claimed) => claimed.id)).toEqual(['cl_a']);
    expect(due[0].dueAt).toBeGreaterThanOrEqual(before);
  });

  it('verify returns the first token, sealed, for credentials the upstream accepts', async () => {
    const { box, facade } = units;
    const verified = await facade.verify(oauthEntry(box, fake.tokenUrl), { kind: 'secret', secret: 'secret-1' });
    expect(verified.status.state).toBe('ready');
    expect(verified.token && box.open(verified.token.sealedAccessToken, tokenContext('cl_1', verified.token))).toBe(
      fake.issued[0].accessToken,
    );
    expect(verified.dueAt).toBeGreaterThan(Date.now());
  });

  it('verify throws 422 credentials_rejected for refused credentials, and 503 when the upstream cannot tell', async () => {
    const { box, facade } = units;
    const refused = await facade
      .verify(oauthEntry(box, fake.tokenUrl), { kind: 'secret', secret: 'wrong' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BrokerError);
    expect(refused).toMatchObject({ status: 422, code: 'credentials_rejected' });
    expect((refused as BrokerError).message).toMatch(
      /^The upstream refused the new credentials .*; the old secret stays in force$/,
    );

    fake.fail('503', { times: 1, retryAfterSeconds: 7 });
    const unavailable = await facade
      .verify(oauthEntry(box, fake.tokenUrl), { kind: 'secret', secret: 'secret-1' })
      .catch((error: unknown) => error);
    expect(unavailable).toMatchObject({ status: 503, code: 'upstream_unavailable', options: { retryAfterSeconds: 7 } });
  });

  it('a forced refresh by an admin is audited', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());
    await refresher.refresh('cl_1', 'forced', admin);
    const audit = await store.listAudit({ limit: 10 });
    expect(audit.map((event) => event.action)).toEqual(['token.refresh_forced']);
  });

  it('an answer the policy cannot apply is written as a transient failure: backoff and the forced-refresh limit still hold', async () => {
    const { store, box, refresher } = units;
    await store.insertClient(oauthEntry(box, fake.tokenUrl), Date.now());
    // Applying the token answer throws (as toISOString did on an expires_in of 1e13).
    const sealing = jest.spyOn(box, 'seal').mockImplementationOnce(() => {
      throw new RangeError('Invalid time value');
    });
    try {
      await refresher.refresh('cl_1', 'forced', admin);
    } finally {
      sealing.mockRestore();
    }
    const entry = await store.getClient('cl_1');
    expect(entry?.status).toMatchObject({
      state: 'failing',
      consecutiveFailures: 1,
      lastForcedRefreshAt: expect.any(Number),
    });
    expect(entry?.status.nextAttemptAt).toBeGreaterThan(Date.now());
    expect(entry?.token).toBeNull();
    // A second forced refresh at once is coalesced: no new upstream request.
    await refresher.refresh('cl_1', 'forced', admin);
    expect(fake.tokenRequestCount('client-1')).toBe(1);
  });
});
