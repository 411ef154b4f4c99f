import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { ADMIN_KEY, ENCRYPTION_KEY, eventually } from './support/broker';
import { spawnBroker, waitForOutput, type BrokerProcess } from './support/broker-process';
import { freePort } from './support/redis-server';
import { TestPki, type Issued } from './support/test-pki';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import { WebhookReceiver, type ReceivedWebhook } from './support/webhook-receiver';

/**
 * client.certificate_expiring end to end: tls_client_auth clients against a
 * real HTTPS token endpoint that checks client certificates (as in
 * mtls.e2e-spec.ts), a real webhook receiver, deliveries verified with the
 * Standard Webhooks reference library. On Redis with two replicas (the
 * once-a-day guard holds across them), and on the memory store.
 */
jest.setTimeout(120_000);

const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
const WORKSPACE = 'o_certs';

describe.each(['redis', 'memory'] as const)('client.certificate_expiring (%s store)', (store) => {
  const pki = new TestPki();
  let serverCa: string;
  let soon: Issued;
  let later: Issued;
  let server: Server;
  let receiver: WebhookReceiver;
  const brokers: BrokerProcess[] = [];
  const replicas: ReturnType<typeof request>[] = [];

  beforeAll(async () => {
    const ca = pki.ca('cert-ca');
    serverCa = ca.path;
    const serverCert = pki.issue('cert-ca', 'server', '127.0.0.1', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
    soon = pki.issue('cert-ca', 'soon', 'svc-soon', { days: 10 });
    later = pki.issue('cert-ca', 'later', 'svc-later', { days: 30 });
    server = createServer(
      {
        key: serverCert.privateKey,
        cert: serverCert.certificate,
        ca: [readFileSync(serverCa, 'utf8')],
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void answer(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = await WebhookReceiver.start();
    const storeEnv: Record<string, string> =
      store === 'redis' ? { REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: uniquePrefix('certexp') } : {};
    for (let index = 0; index < (store === 'redis' ? 2 : 1); index += 1) {
      const port = await freePort();
      const broker = spawnBroker({
        PORT: String(port),
        HOST: '127.0.0.1',
        BROKER_ADMIN_KEYS: ADMIN_KEY,
        BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
        TOKEN_URL_ALLOWLIST: '127.0.0.1',
        NODE_EXTRA_CA_CERTS: serverCa,
        WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1',
        WEBHOOK_RETRY_SECONDS: '1,1,1',
        SCHEDULER_TICK_MS: '100',
        FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
        ...storeEnv,
      });
      brokers.push(broker);
      await waitForOutput(broker.stdout, /token-broker listening/);
      replicas.push(request(`http://127.0.0.1:${port}`));
    }
  });
  afterAll(async () => {
    for (const broker of brokers) broker.child.kill('SIGTERM');
    await Promise.all(brokers.map((broker) => broker.exited));
    await new Promise((resolve) => server?.close(resolve));
    await receiver?.stop();
    pki.remove();
  });

  /** A token endpoint that gives a token to a certificate of its CA whose subject is the client id. */
  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const socket = req.socket as TLSSocket;
    const subject = socket.getPeerCertificate()?.subject?.CN;
    const authorized = socket.authorized && subject === new URLSearchParams(body).get('client_id');
    const [status, value] = authorized
      ? [200, { access_token: `mtls_${randomBytes(16).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 }]
      : [401, { error: 'invalid_client' }];
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
  }

  const tokenUrl = () => `https://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;

  async function createWebhook(events: string[]): Promise<{ id: string; secret: string }> {
    const res = await replicas[0].post('/v1/webhooks').set(admin).send({ url: receiver.url, events });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** Registers a tls_client_auth client and waits for its first token (the first refresh). */
  async function registerReady(clientId: string, material: Issued): Promise<string> {
    const res = await replicas[0]
      .post('/v1/clients')
      .set(admin)
      .send({
        workspaceId: WORKSPACE,
        name: `mTLS ${clientId}`,
        type: 'oauth_client_credentials',
        clientId,
        tokenUrl: tokenUrl(),
        tokenEndpointAuthMethod: 'tls_client_auth',
        clientCertificate: material.certificate,
        privateKey: material.privateKey,
      });
    expect(res.status).toBe(201);
    await eventually(async () => {
      const view = (await replicas[0].get(`/v1/clients/${res.body.id}`).set(admin)).body;
      return view.status.state === 'ready';
    }, 20_000);
    return res.body.id;
  }

  /** Forces a refresh through one replica; each one really asks the token endpoint. */
  async function forceRefresh(replica: ReturnType<typeof request>, id: string): Promise<void> {
    // FORCE_REFRESH_MIN_INTERVAL_SECONDS is 1: let the last one age past it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const res = await replica.post(`/v1/clients/${id}/token/refresh`).set(admin);
    expect(res.status).toBe(200);
  }

  const verifiedBy = (secret: string): ReceivedWebhook[] =>
    receiver.received.filter((delivery) => {
      try {
        new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>);
        return true;
      } catch {
        return false;
      }
    });

  it('is sent once a day for a certificate 10 days from its end, never for one 30 days away, only to its subscribers', async () => {
    const certificates = await createWebhook(['client.certificate_expiring']);
    const everything = await createWebhook(['*']);
    const failures = await createWebhook(['client.failing', 'client.rejected', 'client.recovered']);

    const soonId = await registerReady('svc-soon', soon);
    const laterId = await registerReady('svc-later', later);
    // More refreshes within the day, on every replica: the guard lets none of them send it again.
    for (const replica of replicas) {
      await forceRefresh(replica, soonId);
      await forceRefresh(replica, laterId);
    }
    await eventually(() => verifiedBy(certificates.secret).length >= 1 && verifiedBy(everything.secret).length >= 1);
    // Time for a wrongly doubled event to arrive too: the worker polls every 250 ms and retries after 1 s.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const toCertificates = verifiedBy(certificates.secret);
    expect(toCertificates).toHaveLength(1);
    const payload = new Webhook(certificates.secret).verify(
      toCertificates[0].body,
      toCertificates[0].headers as Record<string, string>,
    );
    expect(payload).toEqual({
      type: 'client.certificate_expiring',
      timestamp: expect.any(String),
      data: {
        clientId: soonId,
        workspaceId: WORKSPACE,
        name: 'mTLS svc-soon',
        state: 'ready',
        lastError: null,
        failingSince: null,
        certificateExpiresAt: new Date(new X509Certificate(soon.certificate).validTo).toISOString(),
      },
    });
    // "*" gets the same event (same webhook-id), and nothing about the client 30 days away.
    const toEverything = verifiedBy(everything.secret);
    expect(toEverything.map((delivery) => delivery.headers['webhook-id'])).toEqual([
      toCertificates[0].headers['webhook-id'],
    ]);
    expect(receiver.events().some((event) => event.data.clientId === laterId)).toBe(false);
    // A subscription to the state events gets none of it.
    expect(verifiedBy(failures.secret)).toEqual([]);
    expect(receiver.received).toHaveLength(2);

    const deliveries = (await replicas[0].get(`/v1/webhooks/${certificates.id}/deliveries`).set(admin)).body;
    expect(deliveries.items).toEqual([
      expect.objectContaining({ type: 'client.certificate_expiring', state: 'delivered', attempts: 1 }),
    ]);
  });
});
