import Redis from 'ioredis';
import { RedisStore } from '../src/store/redis.store';
import type { ClientEntry } from '../src/store/store.types';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import { UNSCHEDULED, makeEntry, makeToken, statusIn } from './store-contract';

/**
 * The compact layout of a client hash (redis-entry-codec.ts): what keeps
 * Redis's bytes per client down, and the hashes of the layout before it,
 * which are still read and are converted by their next write.
 */
describe('RedisStore client hash layout', () => {
  const prefix = uniquePrefix('layout');
  let admin: Redis;
  let store: RedisStore;
  const key = (id: string): string => `${prefix}{c:${id}}`;

  beforeAll(async () => {
    admin = new Redis(testRedisUrl());
    store = await RedisStore.connect({ url: testRedisUrl(), keyPrefix: prefix });
  });

  afterAll(async () => {
    await store.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  /** A client as the service registers it, holding a token: sealed values of their real length. */
  function registered(id: string): ClientEntry {
    const entry = makeEntry(id, { status: statusIn('ready'), token: makeToken(1) });
    return {
      client: {
        ...entry.client,
        tokenEndpointAuthMethod: 'client_secret_post',
        extraParams: {},
        keyId: null,
        signingAlg: null,
        certificateExpiresAt: null,
        sealedPrivateKey: null,
        sealedCertificate: null,
        sealedSecret: `v1.k1.${'a'.repeat(16)}.${'b'.repeat(22)}.${'c'.repeat(40)}`,
      } as ClientEntry['client'],
      status: { ...entry.status, lastRefreshAt: '2025-06-15T14:00:00.000Z' },
      token: makeToken(1, { sealedAccessToken: `v1.k1.${'d'.repeat(16)}.${'e'.repeat(22)}.${'f'.repeat(120)}` }),
    };
  }

  it('keeps a client with a token in a listpack, in at most 1 KiB', async () => {
    const entry = registered('cl_compact');
    await store.insertClient(entry, UNSCHEDULED);
    expect(await store.getClient('cl_compact')).toEqual(entry);
    expect(await admin.object('ENCODING', key('cl_compact'))).toBe('listpack');
    // The full JSON of the layout before took 1,536 bytes in a hashtable.
    expect(Number(await admin.call('MEMORY', 'USAGE', key('cl_compact'), 'SAMPLES', '0'))).toBeLessThanOrEqual(1024);
  });

  it('stays a listpack through refreshes, failures and edits', async () => {
    await store.insertClient(registered('cl_lived'), UNSCHEDULED);
    await store.updateClient('cl_lived', 1, { status: statusIn('failing', '2025-06-15T15:00:00.000Z') });
    await store.updateClient('cl_lived', 1, { status: statusIn('ready'), token: makeToken(1) });
    const entry = (await store.getClient('cl_lived')) as ClientEntry;
    await store.updateClient('cl_lived', 1, { client: { ...entry.client, name: 'renamed', generation: 2 } });
    expect(await admin.object('ENCODING', key('cl_lived'))).toBe('listpack');
    expect((await store.getClient('cl_lived'))?.client.name).toBe('renamed');
  });

  it('splits long values between characters, and drops the chunks a shorter value leaves', async () => {
    // Two- and four-byte characters across every chunk boundary.
    const name = 'é🙂'.repeat(60);
    const entry = makeEntry('cl_text');
    await store.insertClient({ ...entry, client: { ...entry.client, name } }, UNSCHEDULED);
    const long = await admin.hgetall(key('cl_text'));
    expect(Object.keys(long).filter((field) => /^c\d+$/.test(field)).length).toBeGreaterThan(5);
    for (const value of Object.values(long)) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(64);
    expect((await store.getClient('cl_text'))?.client.name).toBe(name);

    await store.updateClient('cl_text', 1, { client: { ...entry.client, name: 'short', generation: 2 } });
    const short = await admin.hgetall(key('cl_text'));
    expect(Object.keys(short).filter((field) => /^c\d+$/.test(field)).length).toBeLessThan(5);
    expect((await store.getClient('cl_text'))?.client).toEqual({ ...entry.client, name: 'short', generation: 2 });
  });

  it('reads a hash of the layout before, and converts each part its writes touch', async () => {
    const entry = registered('cl_legacy');
    await admin.hset(key('cl_legacy'), {
      client: JSON.stringify(entry.client),
      gen: '1',
      state: 'ready',
      status: JSON.stringify(entry.status),
      token: JSON.stringify(entry.token),
      iseq: '1',
    });
    await admin.zadd(`${prefix}clients`, 0, 'cl_legacy');
    expect(await store.getClient('cl_legacy')).toEqual(entry);

    // The identity check reads the stored record in its old layout.
    await expect(
      store.updateClient('cl_legacy', 1, { client: { ...entry.client, workspaceId: 'o_other' } }),
    ).rejects.toThrow();
    // A change of state reads the old record for its webhook event, and is counted.
    const failing = statusIn('failing', '2025-06-15T15:00:00.000Z');
    expect(await store.updateClient('cl_legacy', 1, { status: failing })).toBe('ok');
    expect((await store.tokenStats(10)).failingIds).toContain('cl_legacy');
    // The first write moves every part of the layout before into chunks; once the outbox is empty, a listpack.
    const converted = await admin.hgetall(key('cl_legacy'));
    expect([converted.client, converted.status, converted.token]).toEqual([undefined, undefined, undefined]);
    expect(await admin.object('ENCODING', key('cl_legacy'))).toBe('listpack');
    expect(await store.getClient('cl_legacy')).toEqual({ ...entry, status: failing });

    const token = makeToken(1, { sealedAccessToken: 'v1:k1:newer' });
    await store.updateClient('cl_legacy', 1, { status: statusIn('ready'), token });
    await store.updateClient('cl_legacy', 1, { client: { ...entry.client, name: 'new name', generation: 2 } });
    const fields = await admin.hgetall(key('cl_legacy'));
    expect([fields.client, fields.status, fields.token]).toEqual([undefined, undefined, undefined]);
    expect(await admin.object('ENCODING', key('cl_legacy'))).toBe('listpack');
    expect(await store.getClient('cl_legacy')).toEqual({
      client: { ...entry.client, name: 'new name', generation: 2 },
      status: statusIn('ready'),
      token,
    });
    expect((await store.deleteClient('cl_legacy'))?.client.name).toBe('new name');
  });
});
