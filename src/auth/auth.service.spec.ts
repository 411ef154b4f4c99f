import type { AppLogger } from '../common/logger';
import { parseConfig } from '../config/config';
import { MemoryStore } from '../store/memory.store';
import { StoreEventsService } from '../store/store-events.service';
import { AuthService, sha256 } from './auth.service';

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
    await store.insertServiceKey({ id: 'sk_one', name: 'one', workspaces: ['o_1'], keyHash: sha256(SERVICE_KEY).toString('hex'), createdAt: '2026-01-01T00:00:00.000Z' });
    await auth.onApplicationBootstrap();
  });

  afterEach(() => store.close());

  it('knows a service key by its hash, and again once it has been seen', () => {
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`)).toMatchObject({ kind: 'service', serviceKeyId: 'sk_one' });
    expect(auth.authenticateFromMemory(`Bearer ${SERVICE_KEY}`)).toMatchObject({ kind: 'service', serviceKeyId: 'sk_one' });
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
