import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { FakePipedream } from '../support/fake-pipedream';
import { ADMIN_KEY, admin, eventually, randomSecret, startBroker, type TestBroker } from '../support/broker';
import { testRedisUrl, uniquePrefix } from '../support/test-redis';
import { dumpRedis, dumpText } from './support';
import { storedEntry } from '../support/client-hash';

/**
 * The README's encryption key rotation, step by step, with the real command
 * (`node dist/cli/reencrypt-keys.js`, what `npm run keys:reencrypt` runs)
 * while a broker serves: new key first (old entries still open, new ones
 * sealed under the new key), re-encrypt, remove the old key, restart:
 * everything still opens, every sealed value names its key, and a value
 * tampered with or moved to another client is refused, never served.
 */
const run = promisify(execFile);
const OLD = `old:${randomBytes(32).toString('base64')}`;
const NEW = `new:${randomBytes(32).toString('base64')}`;
const SEALED = /v1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('encryption key rotation, the runbook', () => {
  let upstream: FakePipedream;
  let redis: Redis;
  let broker: TestBroker | undefined;
  const prefix = uniquePrefix('runbook');

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
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

  const brokerWith = (keys: string) =>
    startBroker({
      upstream,
      prefix,
      env: {
        BROKER_ENCRYPTION_KEYS: keys,
        FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
        WEBHOOK_URL_ALLOWLIST: 'hooks.keys.invalid',
      },
    });
  const kidsInRedis = async () => {
    const text = dumpText(await dumpRedis(redis, prefix));
    return [...text.matchAll(SEALED)].map((m) => m[1]);
  };
  const token = async (id: string) => {
    const res = await broker!.http().get(`/v1/clients/${id}/token`).set(admin);
    return res.status === 200 ? (res.body.access_token as string) : null;
  };
  async function oauthClient(name: string) {
    const clientId = `pd_${randomSecret(name)}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const res = await broker!
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_keys', name, type: 'oauth_client_credentials', clientId, clientSecret });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, token: await eventually(() => token(res.body.id)) };
  }

  it('new key first, re-encrypt while serving, old key removed, restart: everything opens; tampering is refused', async () => {
    // Before: everything sealed under the old key.
    broker = await brokerWith(OLD);
    const a = await oauthClient('a');
    const apiKey = randomSecret('pd_key');
    upstream.addApiKey(apiKey);
    const k = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_keys', name: 'k', type: 'api_key', apiKey });
    expect(k.status).toBe(201);
    // A webhook: its signing secret is sealed too, and must follow the keys.
    const hook = await broker
      .http()
      .post('/v1/webhooks')
      .set(admin)
      .send({ url: 'https://hooks.keys.invalid/x', events: ['client.rejected'] });
    expect(hook.status).toBe(201);
    expect(new Set(await kidsInRedis())).toEqual(new Set(['old']));
    await broker.close();

    // Step 1: the new key goes first, the old one stays. Old entries open; new ones are sealed under the new key.
    broker = await brokerWith(`${NEW},${OLD}`);
    expect(await token(a.id)).toBe(a.token);
    expect(await token(k.body.id)).toBe(apiKey);
    const b = await oauthClient('b');
    expect(new Set(await kidsInRedis())).toEqual(new Set(['old', 'new']));

    // Step 2: the re-encryption command, with the same environment, while this broker serves.
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: prefix,
      BROKER_ENCRYPTION_KEYS: `${NEW},${OLD}`,
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      LOG_LEVEL: 'silent',
    };
    const cli = join(__dirname, '..', '..', 'dist', 'cli', 'reencrypt-keys.js');
    const first = await run(process.execPath, [cli], { env });
    expect(JSON.parse(first.stdout)).toEqual({
      primaryKey: 'new',
      clients: 3,
      reencrypted: 2,
      unreadable: [],
      failed: [],
      webhooks: { webhooks: 1, reencrypted: 1, unreadable: [] },
    });
    const again = await run(process.execPath, [cli], { env });
    expect(JSON.parse(again.stdout)).toEqual({
      primaryKey: 'new',
      clients: 3,
      reencrypted: 0,
      unreadable: [],
      failed: [],
      webhooks: { webhooks: 1, reencrypted: 0, unreadable: [] },
    });
    const kids = await kidsInRedis();
    expect(kids.length).toBeGreaterThanOrEqual(5); // a and b: secret and token; k: its key
    expect(new Set(kids)).toEqual(new Set(['new']));
    expect(await token(a.id)).toBe(a.token);
    await broker.close();

    // Step 3: the old key is removed; restart. Everything opens: tokens served, secrets work upstream.
    broker = await brokerWith(NEW);
    expect(await token(a.id)).toBe(a.token);
    expect(await token(b.id)).toBe(b.token);
    expect(await token(k.body.id)).toBe(apiKey);
    const refreshed = await broker
      .http()
      .post(`/v1/clients/${a.id}/token/refresh`)
      .set(admin)
      .send({ rejectedToken: a.token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(a.token);
    await broker.close();

    // A key the command was not given: its entries do not open, and the command says so (exit 2), never dropping them.
    const stranger = `stranger:${randomBytes(32).toString('base64')}`;
    const refused = await run(process.execPath, [cli], { env: { ...env, BROKER_ENCRYPTION_KEYS: stranger } }).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect((refused as { code: number }).code).toBe(2);
    expect(JSON.parse((refused as { stdout: string }).stdout).unreadable).toHaveLength(3);
    expect(JSON.parse((refused as { stdout: string }).stdout).webhooks.unreadable).toEqual([hook.body.id]);
    expect(new Set(await kidsInRedis())).toEqual(new Set(['new']));

    // Tampering: a flipped bit in b's secret, and a's secret copied onto the api_key client k.
    const recordOf = async (id: string) => (await storedEntry(redis, prefix, id)).client;
    const bRecord = await recordOf(b.id);
    const parts = (bRecord.sealedSecret as string).split('.');
    const ciphertext = Buffer.from(parts[4], 'base64url');
    ciphertext[0] ^= 1;
    parts[4] = ciphertext.toString('base64url');
    await redis.hset(`${prefix}{c:${b.id}}`, 'client', JSON.stringify({ ...bRecord, sealedSecret: parts.join('.') }));
    const kRecord = await recordOf(k.body.id);
    const aRecord = await recordOf(a.id);
    await redis.hset(
      `${prefix}{c:${k.body.id}}`,
      'client',
      JSON.stringify({ ...kRecord, sealedSecret: aRecord.sealedSecret }),
    );

    broker = await brokerWith(NEW);
    // k's key does not open (it is a's secret, bound to a): refused, never served as something else.
    const kToken = await broker.http().get(`/v1/clients/${k.body.id}/token`).set(admin);
    expect(kToken.status).toBe(502);
    expect(kToken.body.code).toBe('credentials_rejected');
    expect(kToken.text).not.toContain(apiKey);
    // b's secret does not open: no request goes upstream with it, and the client says why.
    const before = upstream.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const forced = await broker
      .http()
      .post(`/v1/clients/${b.id}/token/refresh`)
      .set(admin)
      .send({ rejectedToken: b.token });
    expect(forced.status).toBe(502);
    const status = (await broker.http().get(`/v1/clients/${b.id}`).set(admin)).body.status;
    expect(status).toMatchObject({ state: 'rejected', lastError: expect.stringContaining('undecryptable_secret') });
    expect(upstream.requests.slice(before).filter((r) => r.path === '/v1/oauth/token').length).toBe(0);
    expect(broker.logs.some((line) => line.includes('stored secret cannot be opened'))).toBe(true);
    // a is untouched by all this.
    expect(await token(a.id)).toBeTruthy();
  });

  it('goes on past a client it cannot re-encrypt, names it, and exits non-zero at the end', async () => {
    const ownPrefix = uniquePrefix('runbook_bad');
    broker = await startBroker({ upstream, prefix: ownPrefix, env: { BROKER_ENCRYPTION_KEYS: OLD } });
    const ids: string[] = [];
    for (const name of ['first', 'broken', 'last']) {
      const apiKey = randomSecret('pd_key');
      upstream.addApiKey(apiKey);
      const res = await broker
        .http()
        .post('/v1/clients')
        .set(admin)
        .send({ workspaceId: 'o_keys', name, type: 'api_key', apiKey });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    await broker.close();
    broker = undefined;
    // A record written before input was checked: a lone surrogate that Redis' JSON decoder refuses.
    const brokenKey = `${ownPrefix}{c:${ids[1]}}`;
    const record = (await storedEntry(redis, ownPrefix, ids[1])).client;
    await redis.hset(brokenKey, 'client', JSON.stringify({ ...record, name: 'Acme \ud83d' }));

    const env = {
      ...process.env,
      NODE_ENV: 'test',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: ownPrefix,
      BROKER_ENCRYPTION_KEYS: `${NEW},${OLD}`,
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      LOG_LEVEL: 'silent',
    };
    const cli = join(__dirname, '..', '..', 'dist', 'cli', 'reencrypt-keys.js');
    const outcome = await run(process.execPath, [cli], { env }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(outcome.code).toBe(2);
    const report = JSON.parse(outcome.stdout);
    expect(report).toMatchObject({
      clients: 3,
      reencrypted: 2,
      unreadable: [],
      failed: [{ id: ids[1], reason: expect.any(String) }],
    });
    expect(outcome.stderr).toContain(`client ${ids[1]} was not re-encrypted`);
    // The clients before and after the broken one are under the new key; the broken one is left as it was.
    const kidOf = async (id: string) =>
      [...JSON.stringify((await storedEntry(redis, ownPrefix, id)).client).matchAll(SEALED)].map((m) => m[1]);
    expect(await kidOf(ids[0])).toEqual(['new']);
    expect(await kidOf(ids[2])).toEqual(['new']);
    expect(await kidOf(ids[1])).toEqual(['old']);
  });
});
