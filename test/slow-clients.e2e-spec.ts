import type { Socket } from 'node:net';
import { FakePipedream } from './support/fake-pipedream';
import { admin, bearer, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import { parseAnswer, rawRequest, slowSocket } from './support/raw-http';

/**
 * Issue 9, item 4: connections that send their request slowly are answered
 * 408 and closed after HTTP_HEADERS_TIMEOUT_MS (head) or
 * HTTP_REQUEST_TIMEOUT_MS (body), and while hundreds of them are open the
 * broker still serves tokens and answers readiness.
 */
const HEADERS_TIMEOUT_MS = 1_500;
const REQUEST_TIMEOUT_MS = 3_000;
const SLOW_SOCKETS = 200;

/** Resolves with what the server wrote once it closes the socket, and when. */
function whenClosed(socket: Socket): Promise<{ text: string; at: number }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  return new Promise((resolve) =>
    socket.on('close', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), at: Date.now() })),
  );
}

describe('slow clients', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  const open: Socket[] = [];
  let clientOfTest = '';

  beforeAll(async () => {
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    broker = await startBroker({
      upstream,
      env: {
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        UPSTREAM_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS * 3),
        LOG_LEVEL: 'warn',
      },
    });
  });
  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await broker?.close();
    await upstream?.stop();
  });

  it(`closes ${SLOW_SOCKETS} connections stuck in their headers with a 408, serving tokens and readiness meanwhile`, async () => {
    const clientId = `pd_${randomSecret('slow')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({ workspaceId: 'o_slow', name: 'Slow', type: 'oauth_client_credentials', clientId, clientSecret });
    expect(created.status).toBe(201);
    const key = (
      await broker
        .http()
        .post('/v1/service-keys')
        .set(admin)
        .send({ name: 'svc', workspaces: ['o_slow'] })
    ).body.key as string;
    clientOfTest = created.body.id;
    const tokenPath = `/v1/clients/${created.body.id}/token`;
    const held = await eventually(async () => {
      const res = await broker.http().get(tokenPath).set(bearer(key));
      return res.status === 200 ? (res.body.access_token as string) : null;
    });

    const openedAt = Date.now();
    const sockets = await Promise.all(Array.from({ length: SLOW_SOCKETS }, () => slowSocket(broker.url)));
    open.push(...sockets);
    const closed = sockets.map(whenClosed);

    // While they are all open, the hot path and readiness answer at once.
    const token = await broker.http().get(tokenPath).set(bearer(key)).timeout(1_000);
    expect({ status: token.status, token: token.body.access_token }).toEqual({ status: 200, token: held });
    expect((await broker.http().get('/health/ready').timeout(1_000)).status).toBe(200);
    expect(sockets.every((socket) => !socket.destroyed)).toBe(true);

    const outcomes = await Promise.all(closed);
    const slowest = Math.max(...outcomes.map((outcome) => outcome.at)) - openedAt;
    // The timeout, plus Node's check interval (at most 1 s), plus room for a busy machine.
    expect(slowest).toBeLessThan(HEADERS_TIMEOUT_MS + 1_000 + 2_500);
    for (const outcome of outcomes.slice(0, 5)) {
      const answer = parseAnswer(outcome.text);
      expect({
        status: answer.status,
        code: JSON.parse(answer.body).code,
        cacheControl: answer.headers['cache-control'],
      }).toEqual({ status: 408, code: 'bad_request', cacheControl: 'no-store' });
    }
    expect(outcomes.every((outcome) => outcome.text.startsWith('HTTP/1.1 408 '))).toBe(true);
  }, 30_000);

  it('closes a connection whose body stops arriving after HTTP_REQUEST_TIMEOUT_MS with a 408', async () => {
    const started = Date.now();
    const head = `POST /v1/service-keys HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin.Authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`;
    const answer = await rawRequest(broker.url, head, REQUEST_TIMEOUT_MS + 5_000);
    expect({ status: answer.status, code: JSON.parse(answer.body).code }).toEqual({ status: 408, code: 'bad_request' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
  }, 30_000);

  it('never cuts an answer that takes longer than HTTP_REQUEST_TIMEOUT_MS: the timeout is for receiving the request', async () => {
    upstream.setDelay(REQUEST_TIMEOUT_MS + 1_500);
    try {
      const forced = await broker.http().post(`/v1/clients/${clientOfTest}/token/refresh`).set(admin).send({});
      expect(forced.status).toBe(200);
    } finally {
      upstream.setDelay(0);
    }
  }, 30_000);
});
