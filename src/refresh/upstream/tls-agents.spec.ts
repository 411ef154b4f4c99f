import { TracingService } from '../../tracing/tracing.service';
import { Agent } from 'node:https';
import pino from 'pino';
import { parseConfig, type AppConfig } from '../../config/config';
import { MetricsService } from '../../metrics/metrics.service';
import { MemoryStore } from '../../store/memory.store';
import { StoreEventsService } from '../../store/store-events.service';
import { initialStatus, type OAuthClientRecord } from '../../store/store.types';
import { ClientTlsAgents } from './tls-agents';
import { UpstreamClient } from './upstream.client';

const silent = pino({ level: 'silent' });

function tlsClient(id: string, overrides: Partial<OAuthClientRecord> = {}): OAuthClientRecord {
  return {
    id,
    workspaceId: 'o_1',
    name: 'n',
    type: 'oauth_client_credentials',
    clientId: `c-${id}`,
    tokenUrl: 'https://idp.example/token',
    scope: null,
    tokenRequestFormat: 'form',
    tokenEndpointAuthMethod: 'tls_client_auth',
    secretHint: '',
    sealedSecret: null,
    sealedPrivateKey: 'k',
    sealedCertificate: 'c',
    certificateExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    generation: 1,
    createdAt: '',
    updatedAt: '',
    ...overrides,
  };
}

describe('mutual TLS agents', () => {
  const material = { certificate: 'not read until a connection is made', privateKey: 'neither' };

  it('one agent per client and generation, dropped at any change of the client, and at deletion its certificate leaves /metrics', async () => {
    const store = new MemoryStore();
    const events = new StoreEventsService(store);
    events.onModuleInit();
    const metrics = new MetricsService();
    const agents = new ClientTlsAgents(events, metrics, store, silent);
    const soon = tlsClient('cl_soon', { certificateExpiresAt: new Date(Date.now() + 600_000).toISOString() });
    const later = tlsClient('cl_later');
    for (const client of [soon, later])
      await store.insertClient({ client, status: initialStatus(), token: null }, Date.now());

    const first = agents.agentFor(soon, material);
    expect(agents.agentFor(soon, material)).toBe(first);
    expect(agents.agentFor({ ...soon, generation: 2 }, material)).not.toBe(first);
    agents.agentFor(later, material);
    expect(agents.size).toBe(2);
    const gauge = async () =>
      (await metrics.registry.metrics())
        .split('\n')
        .find((line) => line.startsWith('tb_client_certificate_least_remaining_seconds{'));
    expect(await gauge()).toMatch(/^tb_client_certificate_least_remaining_seconds\{client="cl_soon"\} (59\d|600)$/);

    await store.deleteClient('cl_soon');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(agents.size).toBe(1);
    expect(await gauge()).toMatch(/client="cl_later"/);
    agents.onModuleDestroy();
    expect(agents.size).toBe(0);
  });

  it('keeps the SSRF guard: a host name resolving to loopback is refused before any connection, agent or not', async () => {
    const upstream = upstreamClient(parseConfig({ TOKEN_URL_ALLOWLIST: 'localhost' }));
    const agent = new Agent();
    const outcome = await upstream.requestToken({
      clientKey: 'cl_1',
      tokenUrl: 'https://localhost:1/token',
      clientId: 'c',
      scope: null,
      format: 'form',
      proof: { method: 'tls_client_auth', agent, privateKeyPem: 'k', certificatePem: 'c' },
      extraParams: {},
      defaultExpiresInSeconds: 3_600,
    });
    expect(outcome).toMatchObject({ kind: 'rejected', error: 'address_not_allowed' });
    agent.destroy();
  });

  it('refuses to send a client certificate over plain http', async () => {
    const upstream = upstreamClient(parseConfig({ TOKEN_URL_ALLOWLIST: 'http://127.0.0.1' }));
    const outcome = await upstream.requestToken({
      clientKey: 'cl_1',
      tokenUrl: 'http://127.0.0.1:1/token',
      clientId: 'c',
      scope: null,
      format: 'form',
      proof: { method: 'tls_client_auth', agent: new Agent(), privateKeyPem: 'k', certificatePem: 'c' },
      extraParams: {},
      defaultExpiresInSeconds: 3_600,
    });
    expect(outcome).toEqual({
      kind: 'rejected',
      httpStatus: null,
      error: 'invalid_url',
      description: 'tls_client_auth needs an https token URL',
    });
  });
});

function upstreamClient(config: AppConfig): UpstreamClient {
  return new UpstreamClient(config, new MetricsService(), new TracingService(config));
}
