import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '../support/broker';
import { FakePipedream } from '../support/fake-pipedream';
import { LeakScanner } from '../support/leak-scanner';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { ADMIN_KEY, registerClient, startRunningBroker, type RunningBroker } from './running-broker';

const SECRET = 'trace-client-secret-0123456789';
const WORKSPACE = 'o_traced';
const DIST = join(__dirname, '..', '..', 'dist');

/**
 * The webhook module's helper, on the compiled code in a process of its own (the exporter loads
 * node:http by dynamic import, which jest's VM refuses): a delivery span nested in the active span,
 * and a failure whose message is not exported.
 */
const WEBHOOK_SCRIPT = `
const { parseConfig } = require(${JSON.stringify(join(DIST, 'config', 'config.js'))});
const { SPANS, TracingService } = require(${JSON.stringify(join(DIST, 'tracing', 'tracing.service.js'))});
const tracing = new TracingService(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: process.argv[1], OTEL_SERVICE_NAME: 'helper' }));
(async () => {
  await tracing.inSpan(SPANS.tokenRequest, { clientId: 'cl_outer' }, () =>
    tracing.traceWebhookDelivery({ webhookId: 'wh_1', eventId: 'ev_1', eventType: 'client.rejected', attempt: 2 }, async (span) => {
      span.set({ outcome: 'delivered', httpStatus: 204, host: 'hooks.example.com', port: 443 });
    }));
  const failure = Object.assign(new Error('words an upstream said'), { code: 'upstream_unavailable' });
  await tracing.inSpan(SPANS.refresh, { clientId: 'cl_2' }, () => Promise.reject(failure)).catch(() => undefined);
  await tracing.onModuleDestroy();
})();
`;

describe('OpenTelemetry traces of the compiled broker, exported to a real OTLP/HTTP receiver', () => {
  let upstream: FakePipedream;
  let receiver: OtlpReceiver;
  let broker: RunningBroker;
  let client: { id: string; accessToken: string };

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    receiver = await OtlpReceiver.start();
    broker = await startRunningBroker(upstream, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'token-broker-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      FORCE_REFRESH_MIN_INTERVAL_SECONDS: '0',
    });
    client = await registerClient(broker, upstream, {
      workspaceId: WORKSPACE,
      clientId: 'traced-client',
      clientSecret: SECRET,
    });
  }, 60_000);

  afterAll(async () => {
    await broker?.stop();
    await receiver?.stop();
    await upstream?.stop();
  });

  const ofClient = (name: string): ReceivedSpan[] =>
    receiver.named(name).filter((span) => span.attributes['token_broker.client.id'] === client.id);

  it('a forced refresh is one trace: token.request > token.refresh > upstream.request, with client and workspace ids', async () => {
    const answer = await fetch(`${broker.url}/v1/clients/${client.id}/token/refresh`, {
      method: 'POST',
      headers: { ...broker.admin, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(answer.status).toBe(200);
    const forced = await eventually(() =>
      ofClient('token.refresh').find((span) => span.attributes['token_broker.refresh.reason'] === 'forced'),
    );
    const request = receiver.spans.find((span) => span.spanId === forced.parentSpanId);
    const upstreamSpan = await eventually(() => receiver.spans.find((span) => span.parentSpanId === forced.spanId));

    expect(request).toMatchObject({
      name: 'token.request',
      traceId: forced.traceId,
      serviceName: 'token-broker-under-test',
      attributes: {
        'token_broker.client.id': client.id,
        'token_broker.workspace.id': WORKSPACE,
        'token_broker.outcome': 'fetched',
      },
    });
    expect(forced.attributes).toEqual({
      'token_broker.client.id': client.id,
      'token_broker.workspace.id': WORKSPACE,
      'token_broker.refresh.reason': 'forced',
      'token_broker.outcome': 'ready',
    });
    expect(upstreamSpan).toMatchObject({ name: 'upstream.request', traceId: forced.traceId, kind: 3 });
    expect(upstreamSpan.attributes).toEqual({
      'token_broker.client.id': client.id,
      'token_broker.workspace.id': WORKSPACE,
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(upstream.baseUrl).port),
      'http.request.method': 'POST',
      'token_broker.upstream.kind': 'token',
      'token_broker.outcome': 'token',
    });
  });

  it('scheduled refreshes have their span too', async () => {
    // Registered and left alone (no caller asks first): its first token is fetched by the scheduler.
    upstream.addClient('scheduled-client', SECRET);
    const created = await fetch(`${broker.url}/v1/clients`, {
      method: 'POST',
      headers: { ...broker.admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        workspaceId: WORKSPACE,
        name: 'scheduled',
        type: 'oauth_client_credentials',
        clientId: 'scheduled-client',
        clientSecret: SECRET,
      }),
    });
    const { id } = (await created.json()) as { id: string };
    await eventually(() =>
      receiver
        .named('token.refresh')
        .find(
          (span) =>
            span.attributes['token_broker.client.id'] === id &&
            span.attributes['token_broker.refresh.reason'] === 'scheduled',
        ),
    );
  });

  it('a token request served from memory makes no span', async () => {
    // Warm: the first request after the forced refresh may read the store.
    await fetch(`${broker.url}/v1/clients/${client.id}/token`, { headers: broker.admin });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = ofClient('token.request').length;
    for (let i = 0; i < 20; i += 1) {
      const answer = await fetch(`${broker.url}/v1/clients/${client.id}/token`, { headers: broker.admin });
      expect(answer.status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ofClient('token.request')).toHaveLength(before);
  });

  it('a failed token request is marked with its error code only', async () => {
    const answer = await fetch(`${broker.url}/v1/clients/cl_missing_client/token`, { headers: broker.admin });
    expect(answer.status).toBe(404);
    const failed = await eventually(() =>
      receiver.named('token.request').find((span) => span.attributes['token_broker.client.id'] === 'cl_missing_client'),
    );
    expect(failed.status).toEqual({ code: 2, message: 'not_found' });
    expect(failed.attributes).toEqual({
      'token_broker.client.id': 'cl_missing_client',
      'token_broker.outcome': 'not_found',
      'error.type': 'not_found',
    });
  });

  it('exports JSON, and no secret, token or key appears in anything exported', () => {
    expect(receiver.bodies.length).toBeGreaterThan(0);
    expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
    const tokens = upstream.issued.map((issued, index) => ({
      label: `access token ${index}`,
      value: issued.accessToken,
    }));
    const scanner = new LeakScanner([
      { label: 'client secret', value: SECRET },
      { label: 'admin key', value: ADMIN_KEY },
      ...tokens,
    ]);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect(scanner.scan(receiver.bodies.join('\n'))).toEqual([]);
  });

  it('the webhook delivery helper makes a client span nested in the active one; a failure exports its code, not its message', async () => {
    const child = spawn(process.execPath, ['-e', WEBHOOK_SCRIPT, receiver.endpoint], { stdio: 'inherit' });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    const outer = receiver.named('token.request').find((span) => span.serviceName === 'helper');
    const delivery = receiver.named('webhook.deliver').find((span) => span.serviceName === 'helper');
    const refresh = receiver.named('token.refresh').find((span) => span.serviceName === 'helper');
    expect(delivery).toMatchObject({ parentSpanId: outer?.spanId, traceId: outer?.traceId, kind: 3 });
    expect(delivery?.attributes).toEqual({
      'token_broker.webhook.id': 'wh_1',
      'token_broker.webhook.event_id': 'ev_1',
      'token_broker.webhook.event_type': 'client.rejected',
      'token_broker.webhook.attempt': 2,
      'token_broker.outcome': 'delivered',
      'http.response.status_code': 204,
      'server.address': 'hooks.example.com',
      'server.port': 443,
    });
    expect(refresh?.status).toEqual({ code: 2, message: 'upstream_unavailable' });
    expect(receiver.bodies.join('')).not.toContain('words an upstream said');
  });
});
