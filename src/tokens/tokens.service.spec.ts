import { SchedulerRegistry } from '@nestjs/schedule';
import type { Principal } from '../auth/principal';
import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import { SecretBox } from '../crypto/secret-box';
import type { MetricsService } from '../metrics/metrics.service';
import type { BrokerStore } from '../store/broker-store';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import type { ClientEntry } from '../store/store.types';
import { SERVE_MARGIN_MS, type RefreshFacade } from '../refresh/refresh.facade';
import { TracingService } from '../tracing/tracing.service';
import { UsageRecorder } from '../usage/usage-recorder';
import { TokenCache, cachedToken } from './token-cache';
import { TokensService } from './tokens.service';

/** A store whose reads are answered only when the test says so. */
function deferredReads() {
  const pending: Array<(entry: ClientEntry | null) => void> = [];
  const store = {
    getClient: () => new Promise<ClientEntry | null>((resolve) => pending.push(resolve)),
  } as unknown as BrokerStore;
  return { store, pending };
}

describe('TokensService store reads', () => {
  const config = parseConfig({});
  const metrics = { tokenRequests: { labels: () => ({ inc: () => undefined }) } } as unknown as MetricsService;
  let events: MemoryStore;
  let cache: TokenCache;

  beforeEach(() => {
    events = new MemoryStore();
    const storeEvents = new StoreEventsService(events);
    storeEvents.onModuleInit();
    cache = new TokenCache(storeEvents);
  });

  afterEach(() => events.close());

  function service(store: BrokerStore): { read(id: string): Promise<ClientEntry | null> } {
    const box = new SecretBox(config.encryptionKeys);
    const tokens = new TokensService(
      config,
      store,
      {} as AppLogger,
      box,
      cache,
      {} as RefreshFacade,
      metrics,
      new TracingService(config),
      {} as UsageRecorder,
    );
    return tokens as unknown as { read(id: string): Promise<ClientEntry | null> };
  }

  it('shares one store read among concurrent callers', async () => {
    const { store, pending } = deferredReads();
    const tokens = service(store);
    const first = tokens.read('cl_a');
    const second = tokens.read('cl_a');
    expect(pending).toHaveLength(1);
    pending[0](null);
    await expect(Promise.all([first, second])).resolves.toEqual([null, null]);
  });

  it('does not hand a caller a read that began before the client last changed', async () => {
    const { store, pending } = deferredReads();
    const tokens = service(store);
    const before = tokens.read('cl_a');
    cache.invalidate('cl_a');
    const after = tokens.read('cl_a');
    expect(pending).toHaveLength(2);
    const changed = { client: { id: 'cl_a' } } as ClientEntry;
    pending[1](changed);
    pending[0](null);
    await expect(after).resolves.toBe(changed);
    await expect(before).resolves.toBeNull();
    // A read after both settled starts afresh.
    void tokens.read('cl_a');
    expect(pending).toHaveLength(3);
  });
});

describe('TokensService.lookup', () => {
  const config = parseConfig({ MIN_TOKEN_TTL_SECONDS: '60' });
  const NOW = Date.parse('2026-01-01T00:00:00.000Z');
  const EXPIRES_AT = NOW + 3_600_000;
  const serviceKey = (id: string, workspace: string): Principal => ({
    kind: 'service',
    actor: id,
    serviceKeyId: id,
    workspaces: new Set([workspace]),
    allWorkspaces: false,
  });
  const reader = serviceKey('sk_a', 'o_1');
  const stranger = serviceKey('sk_b', 'o_2');
  const admin: Principal = { kind: 'admin', actor: 'admin:0123abcd' };
  let events: MemoryStore;
  let cache: TokenCache;
  let tokens: TokensService;
  let usage: UsageRecorder;
  let counted: { servedFromMemory: number; forbidden: number };

  /** What the recorder wrote to the store once flushed: each client's and key's last use. */
  async function flushedUsage(clientIds: string[], keyIds: string[]) {
    await usage.flush();
    return {
      clients: await events.lastUsage('clients', clientIds),
      serviceKeys: await events.lastUsage('serviceKeys', keyIds),
    };
  }

  beforeEach(() => {
    events = new MemoryStore();
    const storeEvents = new StoreEventsService(events);
    storeEvents.onModuleInit();
    cache = new TokenCache(storeEvents);
    counted = { servedFromMemory: 0, forbidden: 0 };
    const metrics = {
      tokenRequests: { labels: () => ({ inc: () => (counted.forbidden += 1) }) },
      countServedFromMemory: () => (counted.servedFromMemory += 1),
    } as unknown as MetricsService;
    // No store and no refresher: every case here is answered from memory.
    const store = {} as BrokerStore;
    const box = new SecretBox(config.encryptionKeys);
    usage = new UsageRecorder(config, events, {} as AppLogger, new SchedulerRegistry());
    tokens = new TokensService(
      config,
      store,
      {} as AppLogger,
      box,
      cache,
      {} as RefreshFacade,
      metrics,
      new TracingService(config),
      usage,
    );
    cache.set('cl_a', cachedToken('o_1', 'oauth_client_credentials', 'at-1', EXPIRES_AT), cache.version('cl_a'));
    cache.set('cl_key', cachedToken('o_1', 'api_key', 'pd-key', null), cache.version('cl_key'));
  });

  afterEach(async () => {
    jest.useRealTimers();
    await events.close();
  });

  it('is a hit for a held token of a workspace the principal may use, and counts nothing by itself', () => {
    expect(tokens.lookup(reader, 'cl_a', NOW)).toEqual({ outcome: 'hit', token: cache.get('cl_a') });
    expect(tokens.lookup(admin, 'cl_a', NOW)).toEqual({ outcome: 'hit', token: cache.get('cl_a') });
    const aYearOn = NOW + 365 * 86_400_000;
    expect(tokens.lookup(reader, 'cl_key', aYearOn)).toEqual({ outcome: 'hit', token: cache.get('cl_key') });
    expect(counted).toEqual({ servedFromMemory: 0, forbidden: 0 });
  });

  it('stamps nothing by itself: a hit the hot path declines (over budget) was not served', async () => {
    tokens.lookup(reader, 'cl_a', NOW);
    expect(await flushedUsage(['cl_a'], ['sk_a'])).toEqual({ clients: [null], serviceKeys: [null] });
  });

  it('is a miss for a client not held, or a token with under MIN_TOKEN_TTL_SECONDS and the margin left', () => {
    expect(tokens.lookup(reader, 'cl_unknown', NOW)).toEqual({ outcome: 'miss' });
    const lastServable = EXPIRES_AT - 60_000 - SERVE_MARGIN_MS;
    expect(tokens.lookup(reader, 'cl_a', lastServable).outcome).toBe('hit');
    expect(tokens.lookup(reader, 'cl_a', lastServable + 1)).toEqual({ outcome: 'miss' });
    cache.invalidate('cl_a');
    expect(tokens.lookup(reader, 'cl_a', NOW)).toEqual({ outcome: 'miss' });
  });

  it('is forbidden for a client of another workspace, held or expiring alike', () => {
    expect(tokens.lookup(stranger, 'cl_a', NOW)).toEqual({ outcome: 'forbidden' });
    expect(tokens.lookup(stranger, 'cl_a', EXPIRES_AT)).toEqual({ outcome: 'forbidden' });
    expect(tokens.lookup(stranger, 'cl_key', NOW)).toEqual({ outcome: 'forbidden' });
    expect(counted).toEqual({ servedFromMemory: 0, forbidden: 0 });
  });

  it('serve answers a hit with the token response, counted as served from memory', () => {
    const found = tokens.lookup(reader, 'cl_a', NOW);
    if (found.outcome !== 'hit') throw new Error(`expected a hit, got ${found.outcome}`);
    expect(JSON.parse(tokens.serve(reader, 'cl_a', found.token, NOW + 1_500))).toEqual({
      access_token: 'at-1',
      token_type: 'Bearer',
      expires_at: new Date(EXPIRES_AT).toISOString(),
      expires_in: 3598,
    });
    expect(counted.servedFromMemory).toBe(1);
  });

  it('serve stamps the client and the service key as used then; an admin key is no service key', async () => {
    const found = tokens.lookup(reader, 'cl_a', NOW);
    if (found.outcome !== 'hit') throw new Error(`expected a hit, got ${found.outcome}`);
    tokens.serve(reader, 'cl_a', found.token, NOW + 1_500);
    tokens.serve(admin, 'cl_key', found.token, NOW + 2_000);
    expect(await flushedUsage(['cl_a', 'cl_key'], ['sk_a'])).toEqual({
      clients: [NOW + 1_500, NOW + 2_000],
      serviceKeys: [NOW + 1_500],
    });
  });

  it('getToken takes the same decision: a hit served from memory as time passes, a counted 403', async () => {
    jest.useFakeTimers({ now: NOW });
    jest.advanceTimersByTime(10_000);
    expect(JSON.parse(await tokens.getToken(reader, 'cl_a'))).toMatchObject({ access_token: 'at-1', expires_in: 3590 });
    await expect(tokens.getToken(stranger, 'cl_a')).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    expect(counted).toEqual({ servedFromMemory: 1, forbidden: 1 });
    // Served to sk_a ten seconds on; sk_b was refused, so it was not used.
    expect(await flushedUsage(['cl_a'], ['sk_a', 'sk_b'])).toEqual({
      clients: [NOW + 10_000],
      serviceKeys: [NOW + 10_000, null],
    });
  });
});
