import { FakePipedream } from './support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { newClientId } from '../src/common/ids';
import { secretHintOf } from '../src/clients/client-view';
import { SecretBox, secretContext } from '../src/crypto/secret-box';
import { BROKER_STORE, type BrokerStore } from '../src/store/broker-store';
import { initialStatus } from '../src/store/store.types';
import { UpstreamClient } from '../src/refresh/upstream/upstream.client';

/**
 * The circuit per upstream host, end to end: one tenant's failing clients must
 * not stop another tenant's refreshes. The fake's token endpoint and its
 * /v1/users/me share one host (one circuit). Each test starts its own fake and
 * broker: circuits live in the broker process.
 */

const NEWLINE_KEY_MESSAGE = 'the API key contains characters that cannot be sent in an HTTP header; rotate it';

interface World {
  fake: FakePipedream;
  broker: TestBroker;
}

interface Registered {
  id: string;
  clientId: string;
  clientSecret: string;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function world(): Promise<World> {
  const fake = await FakePipedream.start();
  cleanups.push(() => fake.stop());
  const broker = await startBroker({ upstream: fake });
  cleanups.push(() => broker.close());
  return { fake, broker };
}

/** Registers an OAuth client the fake knows; `broken` makes the fake answer its token requests 500. */
async function registerOauth(w: World, workspaceId: string, options: { broken?: boolean } = {}): Promise<Registered> {
  const clientId = `pd_${randomSecret('cid')}`;
  const clientSecret = randomSecret();
  w.fake.addClient(clientId, clientSecret);
  if (options.broken) w.fake.failClient(clientId, '500');
  const res = await w.broker
    .http()
    .post('/v1/clients')
    .set(admin)
    .send({ workspaceId, name: 'Acme', type: 'oauth_client_credentials', clientId, clientSecret });
  expect(res.status).toBe(201);
  return { id: res.body.id, clientId, clientSecret };
}

/**
 * An api_key client whose key ends in a newline, as read from a file. Written
 * through the store: the API refuses such keys, records from before it did not.
 */
async function insertNewlineKeyClient(w: World, workspaceId: string, apiKey: string): Promise<string> {
  const store = w.broker.app.get<BrokerStore>(BROKER_STORE);
  const box = w.broker.app.get(SecretBox);
  const id = newClientId();
  const now = new Date().toISOString();
  const client = {
    id,
    workspaceId,
    name: 'Key from a file',
    type: 'api_key' as const,
    clientId: null,
    tokenUrl: null,
    scope: null,
    tokenRequestFormat: 'json' as const,
    secretHint: secretHintOf(apiKey),
    sealedSecret: box.seal(apiKey, secretContext(id)),
    generation: 1,
    createdAt: now,
    updatedAt: now,
  };
  await store.insertClient({ client, status: initialStatus(), token: null }, Date.now());
  return id;
}

async function view(w: World, id: string) {
  const res = await w.broker.http().get(`/v1/clients/${id}`).set(admin);
  expect(res.status).toBe(200);
  return res.body;
}

function getToken(w: World, id: string) {
  return w.broker.http().get(`/v1/clients/${id}/token`).set(admin);
}

function rotate(w: World, id: string, clientSecret: string) {
  return w.broker.http().put(`/v1/clients/${id}/secret`).set(admin).send({ clientSecret });
}

function circuitOf(w: World): () => string {
  const upstream = w.broker.app.get(UpstreamClient);
  return () => upstream.circuitState(w.fake.tokenUrl);
}

describe('the circuit per upstream host (Redis store, fake upstream)', () => {
  it("one client's retries, however many, never stop another tenant's first token, forced refresh or rotation", async () => {
    const w = await world();
    const circuit = circuitOf(w);
    const broken = await registerOauth(w, 'o_broken_tenant', { broken: true });
    // Its own scheduled retries (backoff from 1 s), then rotations of its secret, each verified and refused with 500.
    await w.fake.waitForTokenRequests(3, { clientId: broken.clientId, timeoutMs: 30_000 });
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const rotated = await rotate(w, broken.id, broken.clientSecret);
      expect(rotated.status).toBe(503);
    }
    expect(w.fake.tokenRequestCount(broken.clientId)).toBeGreaterThanOrEqual(7);
    expect(circuit()).toBe('closed');

    const good = await registerOauth(w, 'o_good_tenant');
    const first = await getToken(w, good.id);
    expect(first.status).toBe(200);
    expect(first.body.access_token).toBe(w.fake.issued.find((token) => token.clientId === good.clientId)?.accessToken);

    const forced = await w.broker.http().post(`/v1/clients/${good.id}/token/refresh`).set(admin).send({});
    expect(forced.status).toBe(200);
    expect(forced.body.access_token).not.toBe(first.body.access_token);

    const newSecret = randomSecret('rotated');
    w.fake.addClient(good.clientId, newSecret);
    const rotated = await rotate(w, good.id, newSecret);
    expect(rotated.status).toBe(200);
    expect(rotated.body.status.state).toBe('ready');
    expect(w.fake.issued.filter((token) => token.clientId === good.clientId)).toHaveLength(3);
    expect(circuit()).toBe('closed');
  });

  it("with 3 tenants' clients failing the circuit opens, yet a rotation's verification is sent, closes it, and brings the first token", async () => {
    const w = await world();
    const circuit = circuitOf(w);
    for (const workspace of ['o_tenant_a', 'o_tenant_b', 'o_tenant_c']) {
      await registerOauth(w, workspace, { broken: true });
    }
    await eventually(() => circuit() === 'open', 30_000);

    const good = await registerOauth(w, 'o_good_tenant');
    const newSecret = randomSecret('rotated');
    w.fake.addClient(good.clientId, newSecret);
    // Within the cooldown (at least 5 s): only the verification's bypass can reach the upstream now.
    await eventually(() => circuit() === 'open', 10_000, 10);
    const requestsBefore = w.fake.tokenRequestCount(good.clientId);
    const rotated = await rotate(w, good.id, newSecret);
    expect(rotated.status).toBe(200);
    expect(rotated.body.status.state).toBe('ready');
    // The verification was sent (at least one request). On a loaded machine the cooldown can end while the
    // rotation runs, and the client's own scheduled probe may then go out beside it: at most one more.
    const sent = w.fake.tokenRequestCount(good.clientId) - requestsBefore;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(2);
    expect(circuit()).toBe('closed');

    const token = await getToken(w, good.id);
    expect(token.status).toBe(200);
    const issued = w.fake.issued.filter((t) => t.clientId === good.clientId).map((t) => t.accessToken);
    expect(issued.length).toBeGreaterThanOrEqual(1);
    expect(issued).toContain(token.body.access_token);
  });

  it.each([5, 40])(
    '%i api_key clients whose key ends in a newline send nothing, become rejected with a message to act on, and never open the circuit',
    async (count) => {
      const w = await world();
      const circuit = circuitOf(w);
      const keys = Array.from({ length: count }, (_, i) => `pd_key_from_file_${i}_${randomSecret()}`);
      const ids = await Promise.all(keys.map((key) => insertNewlineKeyClient(w, 'o_keys_from_files', `${key}\n`)));
      // Every one of them tried once.
      await eventually(async () => {
        const all = await Promise.all(ids.map((id) => view(w, id)));
        return all.every((body) => body.status.lastError !== null);
      }, 20_000);
      expect(w.fake.requests).toHaveLength(0);

      const goodKey = `pd_key_${randomSecret()}`;
      w.fake.addApiKey(goodKey);
      const goodKeyClient = await w.broker
        .http()
        .post('/v1/clients')
        .set(admin)
        .send({ workspaceId: 'o_good', name: 'Key', type: 'api_key', apiKey: goodKey });
      expect(goodKeyClient.status).toBe(201);
      const goodClients = await Promise.all(Array.from({ length: 10 }, () => registerOauth(w, 'o_good')));
      const goodIds: string[] = [goodKeyClient.body.id, ...goodClients.map((c) => c.id)];
      const answers = await Promise.all(goodIds.map((id) => getToken(w, id)));
      expect(answers.map((res) => res.status)).toEqual(Array(11).fill(200));
      expect(answers[0].body.access_token).toBe(goodKey);
      expect(circuit()).toBe('closed');

      const views = await Promise.all(ids.map((id) => view(w, id)));
      for (const [i, body] of views.entries()) {
        expect(body.status.state).toBe('rejected');
        expect(body.status.lastError).toContain(NEWLINE_KEY_MESSAGE);
        expect(JSON.stringify(body)).not.toContain(keys[i]);
      }
      const refused = await getToken(w, ids[0]);
      expect(refused.status).toBe(502);
      expect(refused.text).not.toContain(keys[0]);
      expect(w.broker.logs.filter((line) => keys.some((key) => line.includes(key)))).toEqual([]);
    },
  );
});
