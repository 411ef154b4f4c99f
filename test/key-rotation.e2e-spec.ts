import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { parseConfig } from '../src/config/config';
import { reencryptAll } from '../src/crypto/reencrypt';
import { SecretBox } from '../src/crypto/secret-box';
import { RedisStore } from '../src/store/redis.store';
import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import { storedEntry } from './support/client-hash';
import type { StoredToken } from '../src/store/store.types';

const oldKey = `old:${randomBytes(32).toString('base64')}`;
const newKey = `new:${randomBytes(32).toString('base64')}`;

describe('encryption key rotation', () => {
  let upstream: FakePipedream;
  let broker: TestBroker | undefined;
  let redis: Redis;
  const prefix = uniquePrefix('keys');

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    redis = new Redis(testRedisUrl());
  });
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
  });
  afterAll(async () => {
    await upstream.stop();
    redis.disconnect();
  });

  const brokerWith = (keys: string) => startBroker({ upstream, prefix, env: { BROKER_ENCRYPTION_KEYS: keys } });

  async function sealedValues(id: string): Promise<{ secret: string; token: string }> {
    const { client, token } = await storedEntry(redis, prefix, id);
    return { secret: client.sealedSecret as string, token: token?.sealedAccessToken as string };
  }

  it('re-encrypts under the new key, after which the old key can be removed and everything still opens', async () => {
    const clientId = randomSecret('rot');
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);

    broker = await brokerWith(oldKey);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_keys', name: 'Keys', type: 'oauth_client_credentials', clientId, clientSecret });
    const id = created.body.id;
    const first = await eventually(async () => {
      const res = await broker!.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body.access_token : null;
    });
    expect(SecretBox.keyIdOf((await sealedValues(id)).secret)).toBe('old');
    await broker.close();

    // Step 1: the new key goes first; the old one stays so that running replicas keep opening old entries.
    const store = await RedisStore.connect({ url: testRedisUrl(), keyPrefix: prefix });
    const ring = parseConfig({ BROKER_ENCRYPTION_KEYS: `${newKey},${oldKey}` }).encryptionKeys;
    const report = await reencryptAll(store, new SecretBox(ring));
    expect(report).toEqual({ clients: 1, reencrypted: 1, unreadable: [], failed: [] });
    expect(await reencryptAll(store, new SecretBox(ring))).toEqual({
      clients: 1,
      reencrypted: 0,
      unreadable: [],
      failed: [],
    });
    await store.close();
    const sealed = await sealedValues(id);
    expect(SecretBox.keyIdOf(sealed.secret)).toBe('new');
    expect(SecretBox.keyIdOf(sealed.token)).toBe('new');

    // Step 2: the old key is gone; the same token is served, and the secret still works upstream.
    broker = await brokerWith(newKey);
    const served = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
    expect(served.status).toBe(200);
    expect(served.body.access_token).toBe(first);
    const requestsBefore = upstream.tokenRequestCount(clientId);
    const refreshed = await broker
      .http()
      .post(`/v1/clients/${id}/token/refresh`)
      .set(admin)
      .send({ rejectedToken: first });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(first);
    expect(upstream.tokenRequestCount(clientId)).toBe(requestsBefore + 1);
  });

  it('refuses a tampered token instead of serving it, and fetches a fresh one', async () => {
    const clientId = randomSecret('tamper');
    upstream.addClient(clientId, 'tamper-secret-value');
    broker = await brokerWith(newKey);
    const created = await broker.http().post('/v1/clients').set(admin).send({
      workspaceId: 'o_keys',
      name: 'Tamper',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret: 'tamper-secret-value',
    });
    const id = created.body.id;
    const original = await eventually(async () => {
      const res = await broker!.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body.access_token : null;
    });
    await broker.close();

    const token = (await storedEntry(redis, prefix, id)).token as StoredToken;
    const parts = token.sealedAccessToken.split('.');
    const ciphertext = Buffer.from(parts[4], 'base64url');
    ciphertext[0] ^= 0xff;
    parts[4] = ciphertext.toString('base64url');
    await redis.hset(`${prefix}{c:${id}}`, 'token', JSON.stringify({ ...token, sealedAccessToken: parts.join('.') }));

    broker = await brokerWith(newKey);
    const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
    expect(res.status).toBe(200);
    expect(res.body.access_token).not.toBe(original);
    expect(upstream.issued.map((issued) => issued.accessToken)).toContain(res.body.access_token);
    expect(broker.logs.some((line) => line.includes('stored token cannot be opened'))).toBe(true);
  });

  it('a superseded sealed token copied back with a later expiry or under a later generation does not open, and is never served', async () => {
    const clientId = randomSecret('replay');
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret, { expiresIn: 30 });
    broker = await brokerWith(newKey);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_keys', name: 'Replay', type: 'oauth_client_credentials', clientId, clientSecret });
    const id = created.body.id;
    const first = await eventually(async () => {
      const res = await broker!.http().get(`/v1/clients/${id}/token`).set(admin);
      return res.status === 200 ? res.body.access_token : null;
    });
    const stale = (await storedEntry(redis, prefix, id)).token as StoredToken;
    // A forced refresh supersedes it.
    const forced = await broker
      .http()
      .post(`/v1/clients/${id}/token/refresh`)
      .set(admin)
      .send({ rejectedToken: first });
    expect(forced.status).toBe(200);
    expect(forced.body.access_token).not.toBe(first);
    await broker.close();

    for (const replayed of [
      { ...stale, expiresAt: Date.now() + 10 * 365 * 24 * 3_600_000 },
      { ...stale, generation: stale.generation + 1 },
    ]) {
      await redis.hset(`${prefix}{c:${id}}`, 'token', JSON.stringify(replayed));
      // A fresh replica: nothing in memory, it reads what Redis holds.
      broker = await brokerWith(newKey);
      const res = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      expect(res.status).toBe(200);
      expect(res.body.access_token).not.toBe(first);
      expect(Date.parse(res.body.expires_at) - Date.now()).toBeLessThanOrEqual(30_000);
      await broker.close();
      broker = undefined;
    }
  });
});
