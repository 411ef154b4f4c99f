import type { StoreEventsService } from '../store/store-events.service';
import { MAX_HELD, TokenCache, answerBody, answerBytes, cachedToken } from './token-cache';

function cacheWithEvents() {
  let onChanged: (id: string) => void = () => undefined;
  let onResync: () => void = () => undefined;
  const events = {
    onClientChanged: (listener: (id: string) => void) => (onChanged = listener),
    onResync: (listener: () => void) => (onResync = listener),
  } as unknown as StoreEventsService;
  return { cache: new TokenCache(events), changed: (id: string) => onChanged(id), resync: () => onResync() };
}

const token = cachedToken('o_1', 'oauth_client_credentials', 'at', 1);

describe('TokenCache', () => {
  it('caches a load, and drops the entry when the client changes anywhere', () => {
    const { cache, changed } = cacheWithEvents();
    cache.set('cl_a', token, cache.version('cl_a'));
    expect(cache.get('cl_a')).toEqual(token);
    changed('cl_a');
    expect(cache.get('cl_a')).toBeUndefined();
  });

  it('does not cache a load that raced with a change of the same client', () => {
    const { cache, changed } = cacheWithEvents();
    const version = cache.version('cl_a');
    changed('cl_a');
    cache.set('cl_a', token, version);
    expect(cache.get('cl_a')).toBeUndefined();
  });

  it('still caches a load that raced with a change of another client', () => {
    const { cache, changed } = cacheWithEvents();
    const version = cache.version('cl_a');
    changed('cl_b');
    cache.set('cl_a', token, version);
    expect(cache.get('cl_a')).toEqual(token);
  });

  it('drops everything, and every load in flight, on a resync', () => {
    const { cache, resync } = cacheWithEvents();
    cache.set('cl_a', token, cache.version('cl_a'));
    const version = cache.version('cl_b');
    resync();
    cache.set('cl_b', token, version);
    expect(cache.size).toBe(0);
  });

  it('holds at most MAX_HELD tokens, evicting the oldest not served since the clock last passed it', () => {
    const { cache } = cacheWithEvents();
    for (let i = 0; i < MAX_HELD; i += 1) cache.set(`cl_${i}`, token, cache.version(`cl_${i}`));
    expect(cache.get('cl_0')).toBe(token);
    cache.set('cl_new', token, cache.version('cl_new'));
    expect(cache.size).toBe(MAX_HELD);
    expect(cache.get('cl_0')).toBe(token);
    expect(cache.get('cl_1')).toBeUndefined();
    expect(cache.get('cl_new')).toBe(token);
    cache.set('cl_newer', token, cache.version('cl_newer'));
    expect(cache.get('cl_2')).toBeUndefined();
    expect(cache.get('cl_0')).toBe(token);
  });

  it('replaces a held token without evicting another', () => {
    const { cache } = cacheWithEvents();
    for (let i = 0; i < MAX_HELD; i += 1) cache.set(`cl_${i}`, token, cache.version(`cl_${i}`));
    const newer = cachedToken('o_1', 'oauth_client_credentials', 'at-2', 2);
    cache.set('cl_5', newer, cache.version('cl_5'));
    expect(cache.size).toBe(MAX_HELD);
    expect(cache.get('cl_0')).toBe(token);
    expect(cache.get('cl_5')).toBe(newer);
  });

  it('keeps its bookkeeping bounded however many clients change', () => {
    const { cache, changed } = cacheWithEvents();
    const version = cache.version('cl_a');
    for (let i = 0; i < 100_001; i += 1) changed(`cl_${i}`);
    cache.set('cl_a', token, version);
    expect(cache.get('cl_a')).toBeUndefined();
    cache.set('cl_a', token, cache.version('cl_a'));
    expect(cache.get('cl_a')).toEqual(token);
  });
});

describe('cachedToken', () => {
  it('pre-serialises the answer so that adding expires_in makes exactly the JSON of the token response', () => {
    const expiresAt = Date.parse('2026-01-01T01:00:00.000Z');
    const held = cachedToken('o_1', 'oauth_client_credentials', 'tok"en\\with "quotes"', expiresAt);
    expect(JSON.parse(`${held.bodyPrefix}3599}`)).toEqual({
      access_token: 'tok"en\\with "quotes"',
      token_type: 'Bearer',
      expires_at: '2026-01-01T01:00:00.000Z',
      expires_in: 3599,
    });
    const key = cachedToken('o_1', 'api_key', 'pd_key', null);
    expect(JSON.parse(key.bodyPrefix)).toEqual({
      access_token: 'pd_key',
      token_type: 'Bearer',
      expires_at: null,
      expires_in: null,
    });
  });
});

describe('answerBody and answerBytes', () => {
  const expiresAt = Date.parse('2026-01-01T01:00:00.000Z');

  it('count the bytes of the answer without scanning it, multi-byte tokens included', () => {
    for (const accessToken of ['plain', 'tök€n-😀', '\u2028"quoted"']) {
      for (const now of [expiresAt - 3_600_000, expiresAt - 9_999, expiresAt - 1_000]) {
        const held = cachedToken('o_1', 'oauth_client_credentials', accessToken, expiresAt);
        const body = answerBody(held, now);
        expect(answerBytes(held, body)).toBe(Buffer.byteLength(body));
      }
      const key = cachedToken('o_1', 'api_key', accessToken, null);
      expect(answerBytes(key, answerBody(key, 0))).toBe(Buffer.byteLength(key.bodyPrefix));
    }
  });

  it('give the seconds left, rounded down', () => {
    const held = cachedToken('o_1', 'oauth_client_credentials', 'at', expiresAt);
    expect(JSON.parse(answerBody(held, expiresAt - 10_999)).expires_in).toBe(10);
  });
});
