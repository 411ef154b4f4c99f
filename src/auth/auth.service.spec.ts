import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import { AuthService, sha256 } from './auth.service';
import type { Principal } from './principal';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as AppLogger;
const ADMIN_KEY = 'admin-key-0123456789abcdef';
const SERVICE_KEY = 'tbsk.sk_one.c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0';

describe('AuthService.authenticateFromMemory', () => {
  let store: MemoryStore;
  let auth: AuthService;

  beforeEach(async () => {
    store = new MemoryStore();
    const events = new StoreEventsService(store);
    events.onModuleInit();
    auth = new AuthService(parseConfig({ BROKER_ADMIN_KEYS: ADMIN_KEY }), store, silent, events);
    await store.insertServiceKey({
      id: 'sk_one',
      name: 'one',
      workspaces: ['o_1'],
      keyHash: sha256(SERVICE_KEY).toString('hex'),
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    await auth.onApplicationBootstrap();
  });

  afterEach(() => store.close());

  it('knows a service key by its hash, and again once it has been seen', () => {
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`)).toMatchObject({
      kind: 'service',
      serviceKeyId: 'sk_one',
    });
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`)).toMatchObject({
      kind: 'service',
      serviceKeyId: 'sk_one',
    });
  });

  it('refuses another secret under a known id, before and after the real key was seen', () => {
    const forged = `${SERVICE_KEY.slice(0, -1)}A`;
    expect(auth.authenticateFromMemory(`Bearer ${forged}`)).toBeUndefined();
    auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`);
    expect(auth.authenticateFromMemory(`Bearer ${forged}`)).toBeUndefined();
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}x`)).toBeUndefined();
  });

  it('forgets a seen key when it is deleted', async () => {
    auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`);
    await store.deleteServiceKey('sk_one');
    await new Promise((resolve) => setImmediate(resolve));
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`)).toBeUndefined();
  });

  it('knows the admin keys, and nothing that is not a bearer key', () => {
    expect(auth.authenticateFromMemory(`Bearer ${ADMIN_KEY}`)).toMatchObject({ kind: 'admin' });
    expect(auth.authenticateFromMemory(ADMIN_KEY)).toBeUndefined();
    expect(auth.authenticateFromMemory(undefined)).toBeUndefined();
  });
});

describe('AuthService.chargeTokenRequest', () => {
  const service: Principal = {
    kind: 'service',
    actor: 'sk_one',
    serviceKeyId: 'sk_one',
    workspaces: new Set(['o_1']),
    allWorkspaces: false,
  };
  let store: MemoryStore;
  let auth: AuthService;

  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00.000Z') });
    store = new MemoryStore();
    const config = parseConfig({ BROKER_ADMIN_KEYS: ADMIN_KEY, TOKEN_REQUESTS_PER_SECOND_PER_KEY: '2' });
    auth = new AuthService(config, store, silent, new StoreEventsService(store));
  });

  afterEach(async () => {
    jest.useRealTimers();
    await store.close();
  });

  it("takes from a service key's budget, and once it is spent returns the 429 to answer, taking nothing", () => {
    expect(auth.chargeTokenRequest(service)).toBeNull();
    expect(auth.chargeTokenRequest(service)).toBeNull();
    const refusal = auth.chargeTokenRequest(service);
    expect(refusal).toMatchObject({ code: 'rate_limited', status: 429, options: { retryAfterSeconds: 1 } });
    jest.advanceTimersByTime(500);
    expect(auth.chargeTokenRequest(service)).toBeNull();
    expect(auth.chargeTokenRequest(service)).not.toBeNull();
  });

  it('never limits an admin key', () => {
    const admin: Principal = { kind: 'admin', actor: 'admin:0123abcd' };
    for (let i = 0; i < 10; i += 1) expect(auth.chargeTokenRequest(admin)).toBeNull();
  });
});
