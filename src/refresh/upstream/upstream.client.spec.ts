import { createServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../config/config';
import { MetricsService } from '../../metrics/metrics.service';
import { TracingService } from '../../tracing/tracing.service';
import { FakePipedream, type FailureMode } from '../../../test/support/fake-pipedream';
import { parseRetryAfter } from './answer-classification';
import { UpstreamClient } from './upstream.client';
import type { TokenRequest, UpstreamOutcome } from './upstream.types';

interface ScriptedServer {
  url: string;
  close(): Promise<void>;
}

/** A throwaway server for answers the fake does not give (odd bodies, stalls). */
async function scriptedServer(listener: RequestListener): Promise<ScriptedServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

const TRICKY_CLIENT_ID = 'client:with:colons';
const TRICKY_SECRET = 'p+ss%20w:rd é/&=';
const KEY_CALLER = { clientKey: 'broker-client-1' };

describe('UpstreamClient', () => {
  let fake: FakePipedream;
  let metrics: MetricsService;

  beforeAll(async () => {
    fake = await FakePipedream.start();
  });
  afterAll(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    metrics = new MetricsService();
  });

  function upstreamClient(env: Record<string, string> = {}): UpstreamClient {
    const config = parseConfig({ TOKEN_URL_ALLOWLIST: 'http://127.0.0.1', PIPEDREAM_API_BASE: fake.baseUrl, ...env });
    return new UpstreamClient(config, metrics, new TracingService(config));
  }

  /** A shared-secret request: the secret in the JSON body (post) or in HTTP Basic with the form, as each format's default. */
  function tokenRequest({
    clientSecret = 'pd_secret',
    ...overrides
  }: Partial<TokenRequest> & { clientSecret?: string } = {}): TokenRequest {
    const format = overrides.format ?? 'json';
    return {
      clientKey: 'broker-client-1',
      tokenUrl: fake.tokenUrl,
      clientId: 'pd_client',
      scope: null,
      format,
      proof: { method: format === 'json' ? 'client_secret_post' : 'client_secret_basic', clientSecret },
      extraParams: {},
      defaultExpiresInSeconds: 3_600,
      ...overrides,
    };
  }

  describe('token requests', () => {
    it.each(['json', 'form'] as const)('obtains a token in the %s format', async (format) => {
      fake.addClient('pd_client', 'pd_secret');
      const outcome = await upstreamClient().requestToken(tokenRequest({ format }));
      expect(outcome).toEqual({ kind: 'token', accessToken: fake.issued[0].accessToken, expiresInSeconds: 3_600 });
      expect(fake.issued[0]).toMatchObject({ clientId: 'pd_client', format, scope: null });
    });

    it.each(['json', 'form'] as const)(
      'sends a secret with + %% : space and é, and a client id with colons, in the %s format',
      async (format) => {
        fake.addClient(TRICKY_CLIENT_ID, TRICKY_SECRET);
        const outcome = await upstreamClient().requestToken(
          tokenRequest({ format, clientId: TRICKY_CLIENT_ID, clientSecret: TRICKY_SECRET }),
        );
        expect(outcome.kind).toBe('token');
        expect(fake.issued).toEqual([expect.objectContaining({ clientId: TRICKY_CLIENT_ID, format })]);
      },
    );

    it.each(['json', 'form'] as const)('sends the scope in the %s format', async (format) => {
      fake.addClient('pd_client', 'pd_secret', { scopes: ['workflows:read', 'accounts:read'] });
      const outcome = await upstreamClient().requestToken(
        tokenRequest({ format, scope: 'workflows:read accounts:read' }),
      );
      expect(outcome.kind).toBe('token');
      expect(fake.issued[0].scope).toBe('workflows:read accounts:read');
    });

    it('puts exactly the documented fields on the wire', async () => {
      const seen: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
      const server = await scriptedServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        req.on('end', () => {
          seen.push({ headers: req.headers, body });
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"access_token":"t"}');
        });
      });
      try {
        const client = upstreamClient();
        await client.requestToken(
          tokenRequest({
            ...KEY_CALLER,
            tokenUrl: server.url,
            clientId: 'my:id',
            clientSecret: 'p+ss% wörd:',
            scope: null,
            format: 'json',
          }),
        );
        await client.requestToken(
          tokenRequest({
            ...KEY_CALLER,
            tokenUrl: server.url,
            clientId: 'my:id',
            clientSecret: 'p+ss% wörd:',
            scope: 'a b',
            format: 'form',
          }),
        );
      } finally {
        await server.close();
      }

      const [json, form] = seen;
      expect(json.headers).toMatchObject({ accept: 'application/json', 'content-type': 'application/json' });
      expect(json.headers.authorization).toBeUndefined();
      expect(JSON.parse(json.body)).toEqual({
        grant_type: 'client_credentials',
        client_id: 'my:id',
        client_secret: 'p+ss% wörd:',
      });

      expect(form.headers).toMatchObject({
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(form.body).toBe('grant_type=client_credentials&scope=a+b');
      // RFC 6749 section 2.3.1: each half form-encoded, then joined with ':' and base64-encoded.
      const expectedCredential = Buffer.from('my%3Aid:p%2Bss%25+w%C3%B6rd%3A', 'utf8').toString('base64');
      expect(form.headers.authorization).toBe(`Basic ${expectedCredential}`);
    });

    it('takes expires_in from the answer', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.setExpiresIn(7_200);
      await expect(upstreamClient().requestToken(tokenRequest())).resolves.toMatchObject({
        kind: 'token',
        expiresInSeconds: 7_200,
      });
    });

    it('assumes 3600 s when the answer has no expires_in', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.setExpiresIn(null);
      await expect(upstreamClient().requestToken(tokenRequest())).resolves.toMatchObject({
        kind: 'token',
        expiresInSeconds: 3_600,
      });
    });

    it.each([
      ['a string', '"1800"', 1_800],
      ['a fraction', '1800.7', 1_800],
      ['null', 'null', 3_600],
    ])('reads an expires_in that is %s', async (_label, rawExpiresIn, expected) => {
      const server = await scriptedServer((_req, res) =>
        res.writeHead(200).end(`{"access_token":"t","expires_in":${rawExpiresIn}}`),
      );
      try {
        const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }));
        expect(outcome).toEqual({ kind: 'token', accessToken: 't', expiresInSeconds: expected });
      } finally {
        await server.close();
      }
    });

    it.each([
      ['zero', '0'],
      ['negative', '-5'],
      ['not a number', '"soon"'],
      ['over a year', '1e13'],
    ])('takes an expires_in that is %s as a transient failure, never a token', async (_label, rawExpiresIn) => {
      const server = await scriptedServer((_req, res) =>
        res.writeHead(200).end(`{"access_token":"t","expires_in":${rawExpiresIn}}`),
      );
      try {
        const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }));
        expect(outcome).toMatchObject({ kind: 'transient', reason: expect.stringContaining('invalid expires_in') });
      } finally {
        await server.close();
      }
    });
  });

  describe('refusals', () => {
    it('reports a revoked client as rejected, with what the upstream said', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.revokeClient('pd_client');
      await expect(upstreamClient().requestToken(tokenRequest())).resolves.toEqual({
        kind: 'rejected',
        httpStatus: 401,
        error: 'invalid_client',
        description: 'The client has been revoked',
      });
    });

    it.each(['json', 'form'] as const)('reports a wrong secret (%s) as rejected', async (format) => {
      fake.addClient('pd_client', 'pd_secret');
      const outcome = await upstreamClient().requestToken(tokenRequest({ format, clientSecret: 'not-the-secret' }));
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 401, error: 'invalid_client' });
    });

    it('reports an unknown scope as rejected', async () => {
      fake.addClient('pd_client', 'pd_secret', { scopes: ['workflows:read'] });
      const outcome = await upstreamClient().requestToken(tokenRequest({ scope: 'admin' }));
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 400, error: 'invalid_scope' });
    });

    it('does not follow a redirect: the target receives nothing', async () => {
      const target = await FakePipedream.start();
      try {
        target.addClient('pd_client', 'pd_secret');
        fake.redirectTo(target.tokenUrl);
        const outcome = await upstreamClient().requestToken(tokenRequest());
        expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 302, error: 'redirect' });
        expect(target.requests).toHaveLength(0);
      } finally {
        await target.stop();
      }
    });

    it.each([
      ['an HTML page', 'text/html', '<html><body>Forbidden</body></html>', null, null],
      ['an empty body', 'application/json', '', null, null],
      ['a JSON array', 'application/json', '["invalid_client"]', null, null],
      ['non-string fields', 'application/json', '{"error":{"code":1},"error_description":42}', null, null],
      [
        'overlong fields',
        'application/json',
        JSON.stringify({ error: 'e'.repeat(500), error_description: 'd'.repeat(500) }),
        'e'.repeat(200),
        'd'.repeat(200),
      ],
      [
        'a body over 64 KB',
        'application/json',
        JSON.stringify({ error: 'invalid_client', padding: 'x'.repeat(200_000) }),
        null,
        null,
      ],
    ])('classifies a 403 with %s by its status', async (_label, contentType, body, error, description) => {
      const server = await scriptedServer((_req, res) => res.writeHead(403, { 'Content-Type': contentType }).end(body));
      try {
        const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }));
        expect(outcome).toEqual({ kind: 'rejected', httpStatus: 403, error, description });
      } finally {
        await server.close();
      }
    });

    it('rejects a token URL that is not an http(s) URL without sending anything', async () => {
      const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: 'ftp://127.0.0.1/token' }));
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: null, error: 'invalid_url' });
    });
  });

  describe('transient failures', () => {
    it.each<[FailureMode, number | null]>([
      ['500', 500],
      ['503', 503],
      ['html500', 500],
      ['empty502', 502],
      ['reset', null],
    ])('classifies the upstream failure %s as transient', async (mode, httpStatus) => {
      fake.addClient('pd_client', 'pd_secret');
      fake.fail(mode);
      const outcome = await upstreamClient().requestToken(tokenRequest());
      expect(outcome).toMatchObject({ kind: 'transient', httpStatus, retryAfterSeconds: null });
    });

    it('reports a connection reset as a network error', async () => {
      fake.fail('reset');
      const outcome = await upstreamClient().requestToken(tokenRequest());
      expect(outcome).toMatchObject({
        kind: 'transient',
        reason: expect.stringMatching(/^network error \(E[A-Z]+\)$/),
      });
    });

    it('reports a refused connection as a network error', async () => {
      const server = await scriptedServer(() => undefined);
      await server.close();
      const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }));
      expect(outcome).toEqual({
        kind: 'transient',
        reason: 'network error (ECONNREFUSED)',
        httpStatus: null,
        retryAfterSeconds: null,
      });
    });

    it('classifies a 429 as transient and reads its Retry-After', async () => {
      fake.fail('429', { retryAfterSeconds: 7 });
      const outcome = await upstreamClient().requestToken(tokenRequest());
      expect(outcome).toMatchObject({ kind: 'transient', httpStatus: 429, retryAfterSeconds: 7 });
    });

    it('reads a Retry-After on a 503', async () => {
      fake.fail('503', { retryAfterSeconds: 30 });
      await expect(upstreamClient().requestToken(tokenRequest())).resolves.toMatchObject({
        httpStatus: 503,
        retryAfterSeconds: 30,
      });
    });

    it('fails only for the number of requests asked', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.fail('503', { times: 1 });
      const client = upstreamClient();
      await expect(client.requestToken(tokenRequest())).resolves.toMatchObject({ kind: 'transient' });
      await expect(client.requestToken(tokenRequest())).resolves.toMatchObject({ kind: 'token' });
    });

    it('classifies a 408 as transient', async () => {
      const server = await scriptedServer((_req, res) => res.writeHead(408).end());
      try {
        await expect(upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }))).resolves.toMatchObject({
          kind: 'transient',
          httpStatus: 408,
        });
      } finally {
        await server.close();
      }
    });

    it('times out an upstream that never answers', async () => {
      fake.fail('timeout');
      const started = Date.now();
      const outcome = await upstreamClient({ UPSTREAM_TIMEOUT_MS: '200' }).requestToken(tokenRequest());
      expect(outcome).toEqual({
        kind: 'transient',
        reason: 'no complete answer within 200 ms',
        httpStatus: null,
        retryAfterSeconds: null,
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('times out a body that never finishes', async () => {
      const server = await scriptedServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"access_token":');
      });
      try {
        const outcome = await upstreamClient({ UPSTREAM_TIMEOUT_MS: '200' }).requestToken(
          tokenRequest({ tokenUrl: server.url }),
        );
        expect(outcome).toMatchObject({ kind: 'transient', reason: 'no complete answer within 200 ms' });
      } finally {
        await server.close();
      }
    });

    it.each([
      ['an HTML page', '<html>ok</html>'],
      ['an empty body', ''],
      ['no access_token', '{"token_type":"Bearer"}'],
      ['a non-string access_token', '{"access_token":12345}'],
      ['a body over 64 KB', JSON.stringify({ access_token: 't', padding: 'x'.repeat(200_000) })],
    ])('classifies a 200 with %s as transient', async (_label, body) => {
      const server = await scriptedServer((_req, res) => res.writeHead(200).end(body));
      try {
        const outcome = await upstreamClient().requestToken(tokenRequest({ tokenUrl: server.url }));
        expect(outcome).toEqual({
          kind: 'transient',
          reason: 'HTTP 200 without an access_token',
          httpStatus: 200,
          retryAfterSeconds: null,
        });
      } finally {
        await server.close();
      }
    });
  });

  describe('secrets in upstream errors', () => {
    const leakChecks = (outcome: UpstreamOutcome, secrets: string[]): void => {
      const text = JSON.stringify(outcome);
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).toContain('[redacted]');
    };

    it.each(['json', 'form'] as const)('never carries a secret the upstream echoed back (%s)', async (format) => {
      fake.addClient(TRICKY_CLIENT_ID, 'the-right-secret');
      fake.echoSecretsInErrors = true;
      const outcome = await upstreamClient().requestToken(
        tokenRequest({ format, clientId: TRICKY_CLIENT_ID, clientSecret: TRICKY_SECRET }),
      );
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 401, error: 'invalid_client' });
      const basicCredential = Buffer.from('client%3Awith%3Acolons:p%2Bss%2520w%3Ard+%C3%A9%2F%26%3D').toString(
        'base64',
      );
      leakChecks(outcome, [TRICKY_SECRET, basicCredential]);
    });

    it('never carries an API key the upstream echoed back', async () => {
      fake.echoSecretsInErrors = true;
      const outcome = await upstreamClient().checkApiKey('pd_api_key_leaky', KEY_CALLER);
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 401 });
      leakChecks(outcome, ['pd_api_key_leaky']);
    });

    it('redacts secrets in the error field too, and in their encoded forms', async () => {
      const secret = 'a b+c"d';
      const server = await scriptedServer((_req, res) =>
        res
          .writeHead(400)
          .end(JSON.stringify({ error: `bad ${secret}`, error_description: 'got a+b%2Bc%22d and a b+c\\"d' })),
      );
      try {
        const outcome = await upstreamClient().requestToken(
          tokenRequest({ tokenUrl: server.url, clientSecret: secret }),
        );
        expect(outcome).toEqual({
          kind: 'rejected',
          httpStatus: 400,
          error: 'bad [redacted]',
          description: 'got [redacted] and [redacted]',
        });
      } finally {
        await server.close();
      }
    });
  });

  describe('API key check', () => {
    it('reports a known key as valid', async () => {
      fake.addApiKey('pd_api_key_1');
      await expect(upstreamClient().checkApiKey('pd_api_key_1', KEY_CALLER)).resolves.toEqual({ kind: 'valid' });
      expect(fake.requests).toEqual([expect.objectContaining({ method: 'GET', path: '/v1/users/me', status: 200 })]);
    });

    it('reports a revoked key as rejected', async () => {
      fake.addApiKey('pd_api_key_1');
      fake.revokeApiKey('pd_api_key_1');
      await expect(upstreamClient().checkApiKey('pd_api_key_1', KEY_CALLER)).resolves.toMatchObject({
        kind: 'rejected',
        httpStatus: 401,
      });
    });

    it('reports an unreachable API as transient', async () => {
      fake.fail('503');
      await expect(upstreamClient().checkApiKey('pd_api_key_1', KEY_CALLER)).resolves.toMatchObject({
        kind: 'transient',
        httpStatus: 503,
      });
    });

    it('does not reject the key for a 4xx other than 401 or 403 (a wrong PIPEDREAM_API_BASE says nothing about the key)', async () => {
      fake.addApiKey('pd_api_key_1');
      const client = upstreamClient({ PIPEDREAM_API_BASE: `${fake.baseUrl}/wrong-base` });
      await expect(client.checkApiKey('pd_api_key_1', KEY_CALLER)).resolves.toMatchObject({
        kind: 'transient',
        httpStatus: 404,
      });
    });
  });

  describe('per-host limits', () => {
    it('keeps at most UPSTREAM_CONCURRENCY requests in flight to one host', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.setDelay(50);
      const client = upstreamClient({ UPSTREAM_CONCURRENCY: '2' });
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => client.requestToken(tokenRequest())));
      expect(outcomes.every((outcome) => outcome.kind === 'token')).toBe(true);
      expect(fake.tokenRequestCount()).toBe(8);
      expect(fake.maxInFlight).toBe(2);
    });

    it('opens the circuit after 5 transient failures from 3 different clients, and then sends nothing', async () => {
      fake.fail('503');
      const client = upstreamClient();
      for (let i = 0; i < 5; i += 1) {
        const outcome = client.requestToken(tokenRequest({ clientKey: `failing-${i % 3}` }));
        await expect(outcome).resolves.toMatchObject({ kind: 'transient', httpStatus: 503 });
      }
      expect(client.circuitState(fake.tokenUrl)).toBe('open');
      fake.heal();
      fake.addClient('pd_client', 'pd_secret');

      const others = Array.from({ length: 10 }, (_, i) => tokenRequest({ clientKey: `other-${i}` }));
      const refused = await Promise.all(others.map((request) => client.requestToken(request)));
      for (const outcome of refused) {
        expect(outcome).toEqual({
          kind: 'transient',
          reason: 'circuit open',
          httpStatus: null,
          retryAfterSeconds: expect.any(Number),
          notSent: true,
        });
        if (outcome.kind === 'transient') expect(outcome.retryAfterSeconds).toBeLessThanOrEqual(5);
      }
      await expect(client.checkApiKey('pd_api_key_1', KEY_CALLER)).resolves.toMatchObject({ reason: 'circuit open' });
      expect(fake.requests).toHaveLength(5);
    });

    it("never opens on one client's retries: another client's request is still sent and answered", async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.fail('500', { times: 30 });
      const client = upstreamClient();
      for (let i = 0; i < 30; i += 1) {
        const outcome = client.requestToken(tokenRequest({ clientKey: 'broken' }));
        await expect(outcome).resolves.toMatchObject({ kind: 'transient', httpStatus: 500 });
      }
      expect(client.circuitState(fake.tokenUrl)).toBe('closed');
      await expect(client.requestToken(tokenRequest({ clientKey: 'healthy' }))).resolves.toMatchObject({
        kind: 'token',
      });
    });

    it('refuses requests that were queued when the circuit opened', async () => {
      fake.fail('503');
      fake.setDelay(50);
      const client = upstreamClient({ UPSTREAM_CONCURRENCY: '1' });
      const requests = Array.from({ length: 8 }, (_, i) => tokenRequest({ clientKey: `client-${i}` }));
      const outcomes = await Promise.all(requests.map((request) => client.requestToken(request)));
      expect(
        outcomes.filter((outcome) => outcome.kind === 'transient' && outcome.reason === 'circuit open'),
      ).toHaveLength(3);
      expect(fake.requests).toHaveLength(5);
    });

    it('keeps one circuit per host', async () => {
      const other = await FakePipedream.start();
      try {
        other.addClient('pd_client', 'pd_secret');
        fake.fail('503');
        const client = upstreamClient();
        for (let i = 0; i < 5; i += 1) await client.requestToken(tokenRequest({ clientKey: `failing-${i % 3}` }));
        expect(client.circuitState(fake.tokenUrl)).toBe('open');
        expect(client.circuitState(other.tokenUrl)).toBe('closed');
        await expect(client.requestToken(tokenRequest({ tokenUrl: other.tokenUrl }))).resolves.toMatchObject({
          kind: 'token',
        });
      } finally {
        await other.stop();
      }
    });

    it('counts a refusal as a live host: rejected answers do not open the circuit', async () => {
      const client = upstreamClient();
      fake.fail('503', { times: 4 });
      for (let i = 0; i < 4; i += 1) await client.requestToken(tokenRequest({ clientKey: `failing-${i}` }));
      await expect(client.requestToken(tokenRequest())).resolves.toMatchObject({ kind: 'rejected' });
      fake.fail('503', { times: 4 });
      for (let i = 4; i < 8; i += 1) await client.requestToken(tokenRequest({ clientKey: `failing-${i}` }));
      expect(client.circuitState(fake.tokenUrl)).toBe('closed');
    });
  });

  describe('requests Node refuses to write', () => {
    it('rejects an API key with a line break, naming the fix and not the key, and never counts it against the host', async () => {
      fake.addApiKey('pd_api_key_good');
      const client = upstreamClient();
      for (let i = 0; i < 40; i += 1) {
        const key = `pd_api_key_from_file_${i}`;
        const outcome = await client.checkApiKey(`${key}\n`, { clientKey: `newline-${i}` });
        expect(outcome).toEqual({
          kind: 'rejected',
          httpStatus: null,
          error: 'request_not_sent',
          description: 'the API key contains characters that cannot be sent in an HTTP header; rotate it',
        });
        expect(JSON.stringify(outcome)).not.toContain(key);
      }
      expect(fake.requests).toHaveLength(0);
      expect(client.circuitState(fake.baseUrl)).toBe('closed');
      await expect(client.checkApiKey('pd_api_key_good', { clientKey: 'healthy' })).resolves.toEqual({ kind: 'valid' });
    });

    it('neither ends a run of failures nor takes part in it', async () => {
      fake.fail('503');
      const client = upstreamClient();
      for (let i = 0; i < 4; i += 1) {
        await client.checkApiKey('pd_api_key_1', { clientKey: `failing-${i % 3}` });
        await client.checkApiKey('pd_api_key_bad\r\n', { clientKey: 'newline' });
      }
      expect(client.circuitState(fake.baseUrl)).toBe('closed');
      await client.checkApiKey('pd_api_key_1', KEY_CALLER);
      expect(client.circuitState(fake.baseUrl)).toBe('open');
      expect(fake.requests).toHaveLength(5);
    });
  });

  describe("a rotation's verification", () => {
    async function openCircuit(client: UpstreamClient): Promise<void> {
      fake.fail('503', { times: 5 });
      for (let i = 0; i < 5; i += 1) await client.requestToken(tokenRequest({ clientKey: `failing-${i % 3}` }));
      expect(client.circuitState(fake.tokenUrl)).toBe('open');
    }

    it('is sent while the circuit is open, and its success closes it', async () => {
      fake.addClient('pd_client', 'pd_secret');
      const client = upstreamClient();
      await openCircuit(client);
      const verified = await client.requestToken(tokenRequest({ clientKey: 'rotated', verification: true }));
      expect(verified).toMatchObject({ kind: 'token' });
      expect(client.circuitState(fake.tokenUrl)).toBe('closed');
      await expect(client.requestToken(tokenRequest({ clientKey: 'healthy' }))).resolves.toMatchObject({
        kind: 'token',
      });
    });

    it('is sent while the circuit is open, and its failure re-opens it', async () => {
      const client = upstreamClient();
      await openCircuit(client);
      fake.fail('500', { times: 1 });
      const verified = await client.checkApiKey('pd_api_key_new', { clientKey: 'rotated', verification: true });
      expect(verified).toMatchObject({ kind: 'transient', httpStatus: 500 });
      expect(fake.requests).toHaveLength(6);
      const refused = client.requestToken(tokenRequest({ clientKey: 'healthy' }));
      await expect(refused).resolves.toMatchObject({ reason: 'circuit open', retryAfterSeconds: 10 });
    });
  });

  describe('metrics', () => {
    it('records every request by host, kind and outcome, and circuit refusals without latency', async () => {
      fake.addClient('pd_client', 'pd_secret');
      fake.addApiKey('pd_api_key_1');
      const client = upstreamClient();
      await client.requestToken(tokenRequest());
      await client.requestToken(tokenRequest({ clientSecret: 'wrong' }));
      await client.checkApiKey('pd_api_key_1', KEY_CALLER);
      fake.fail('500');
      for (let i = 0; i < 6; i += 1) await client.requestToken(tokenRequest({ clientKey: `failing-${i % 3}` }));

      const host = new URL(fake.baseUrl).host;
      const counts = (await metrics.upstreamRequests.get()).values.map(({ labels, value }) => [
        labels.kind,
        labels.outcome,
        value,
      ]);
      expect(counts).toEqual(
        expect.arrayContaining([
          ['token', 'success', 1],
          ['token', 'rejected', 1],
          ['api_key_check', 'success', 1],
          ['token', 'transient', 5],
          ['token', 'circuit_open', 1],
        ]),
      );
      const latency = (await metrics.upstreamLatency.get()).values.find(
        (value) => value.metricName === 'tb_upstream_request_duration_seconds_count' && value.labels.kind === 'token',
      );
      expect(latency).toMatchObject({ value: 7, labels: { host } });
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');

    it.each([
      ['120', 120],
      [' 0 ', 0],
      ['Wed, 01 Jan 2025 00:01:30 GMT', 90],
      ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
      ['soon', null],
      ['-5', null],
      [undefined, null],
    ])('reads %p as %p seconds', (value, expected) => {
      expect(parseRetryAfter(value, now)).toBe(expected);
    });
  });
});
