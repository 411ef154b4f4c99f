import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakePipedream } from '../support/fake-pipedream';
import { admin, eventually, randomSecret, startBroker, type TestBroker } from '../support/broker';
import { expectContractError } from './support';

/**
 * SSRF: the token URL allowlist holds against every trick, over the API.
 * Registration refuses what the allowlist does not name; what it does name
 * is contacted only where it should be: never after a redirect, never at a
 * loopback address a host NAME resolves to (checked when connecting, so DNS
 * rebinding is covered: see src/refresh/upstream/address-guard.spec.ts).
 */
// Generous: these run beside the rest of the suite on a busy machine.
jest.setTimeout(60_000);

describe('SSRF through the token URL', () => {
  let upstream: FakePipedream;
  /** Another host the broker must never reach: counts what reaches it. */
  let elsewhere: Server;
  let elsewhereHits = 0;
  let elsewhereUrl: string;
  let broker: TestBroker;

  beforeAll(async () => {
    upstream = await FakePipedream.start();
    elsewhere = createServer((_req, res) => {
      elsewhereHits += 1;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: 'stolen', expires_in: 3600 }));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.2', resolve));
    elsewhereUrl = `http://127.0.0.2:${(elsewhere.address() as AddressInfo).port}/v1/oauth/token`;
    // localhost is allowlisted by NAME only; 127.0.0.1 by address (the fake's).
    broker = await startBroker({
      upstream,
      env: { TOKEN_URL_ALLOWLIST: 'api.pipedream.com,http://127.0.0.1,http://localhost' },
    });
  });
  afterAll(async () => {
    await broker?.close();
    await upstream?.stop();
    elsewhere?.closeAllConnections();
    await new Promise((resolve) => elsewhere?.close(resolve));
  });

  const register = (tokenUrl: string, clientId = `pd_${randomSecret('ssrf')}`, clientSecret = randomSecret()) =>
    broker.http().post('/v1/clients').set(admin).send({
      workspaceId: 'o_ssrf',
      name: 'SSRF',
      type: 'oauth_client_credentials',
      clientId,
      clientSecret,
      tokenUrl,
    });

  it.each([
    ['userinfo naming another host', 'https://api.pipedream.com@evil.example/v1/oauth/token'],
    ['userinfo with a password', 'https://api.pipedream.com:pw@evil.example/v1/oauth/token'],
    ['an encoded @', 'https://api.pipedream.com%40evil.example/v1/oauth/token'],
    ['a backslash', 'https://evil.example\\@api.pipedream.com/v1/oauth/token'],
    ['a suffix of an allowed name', 'https://api.pipedream.com.evil.example/v1/oauth/token'],
    ['a prefix of an allowed name', 'https://evilapi.pipedream.com/v1/oauth/token'],
    ['plain http to an https-only host', 'http://api.pipedream.com/v1/oauth/token'],
    ['an IPv4 literal', 'https://169.254.169.254/latest/meta-data/'],
    ['a decimal IPv4 (169.254.169.254)', 'http://2852039166/latest/meta-data/'],
    ['an octal IPv4', 'http://0251.0376.0251.0376/latest/meta-data/'],
    ['a hex IPv4', 'http://0xa9fea9fe/latest/meta-data/'],
    ['a short IPv4', 'http://10.1/token'],
    ['another loopback address', 'http://127.0.0.2/token'],
    ['0.0.0.0', 'http://0.0.0.0/token'],
    ['an IPv6 loopback', 'http://[::1]/token'],
    ['an IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/token'],
    ['an IPv6 link-local', 'https://[fe80::1]/token'],
    ['https to an http-only host', 'https://127.0.0.1/token'],
    ['another scheme', 'file:///etc/passwd'],
    ['gopher', 'gopher://127.0.0.1:6379/_FLUSHALL'],
  ])('refuses %s at registration', async (_, tokenUrl) => {
    const res = await register(tokenUrl);
    expectContractError(res, tokenUrl, 400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain('tokenUrl');
  });

  it.each(['http://2130706433/token', 'http://0177.0.0.1/token', 'http://0x7f000001/token', 'http://127.1/token'])(
    'reads %s as the address it names (the allowed 127.0.0.1), not as a way around the list',
    async (tokenUrl) => {
      const res = await register(tokenUrl);
      expect(res.status).toBe(201);
      expect(res.body.tokenUrl).toBe('http://127.0.0.1/token');
      await broker.http().delete(`/v1/clients/${res.body.id}`).set(admin);
    },
  );

  it('refuses the same tricks when a client is patched', async () => {
    const created = await register(upstream.tokenUrl);
    expect(created.status).toBe(201);
    for (const tokenUrl of [
      'https://api.pipedream.com@evil.example/x',
      'http://[::1]/x',
      'https://169.254.169.254/x',
    ]) {
      expectContractError(
        await broker.http().patch(`/v1/clients/${created.body.id}`).set(admin).send({ tokenUrl }),
        tokenUrl,
        400,
      );
    }
  });

  it.each([
    ['upper case', 'https://API.PIPEDREAM.COM/v1/oauth/token'],
    ['a trailing dot', 'https://api.pipedream.com./v1/oauth/token'],
    ['both', 'https://Api.PipeDream.Com./v1/oauth/token'],
  ])('accepts %s of an allowed name, stored normalised', async (_, tokenUrl) => {
    const res = await register(tokenUrl);
    expect(res.status).toBe(201);
    expect(res.body.tokenUrl).toBe('https://api.pipedream.com/v1/oauth/token');
    await broker.http().delete(`/v1/clients/${res.body.id}`).set(admin);
  });

  it('never follows a redirect to another host: the client is rejected and the other host sees nothing', async () => {
    const clientId = `pd_${randomSecret('redirect')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    upstream.redirectTo(elsewhereUrl);
    try {
      const created = await register(upstream.tokenUrl, clientId, clientSecret);
      expect(created.status).toBe(201);
      const client = await eventually(async () => {
        const res = await broker.http().get(`/v1/clients/${created.body.id}`).set(admin);
        return res.body.status.state === 'rejected' ? res.body : null;
      });
      expect(client.status.lastError).toMatch(/redirect/);
      const token = await broker.http().get(`/v1/clients/${created.body.id}/token`).set(admin);
      expectContractError(token, 'token after a redirect', 502);
      expect(token.body.code).toBe('credentials_rejected');
      expect(elsewhereHits).toBe(0);
    } finally {
      upstream.redirectTo(null);
    }
  });

  it('does not connect when an allowlisted host NAME resolves to loopback (localhost), however it is spelled', async () => {
    const port = new URL(upstream.baseUrl).port;
    // Here the allowlist names localhost but no address: 127.0.0.1 behind the name is refused.
    const byName = await startBroker({
      upstream,
      env: { TOKEN_URL_ALLOWLIST: 'http://localhost', DEFAULT_TOKEN_URL: `http://localhost:${port}/v1/oauth/token` },
    });
    try {
      for (const host of ['localhost', 'LOCALHOST', 'localhost.']) {
        const clientId = `pd_${randomSecret('dns')}`;
        const clientSecret = randomSecret();
        upstream.addClient(clientId, clientSecret);
        const created = await byName
          .http()
          .post('/v1/clients')
          .set(admin)
          .send({
            workspaceId: 'o_ssrf',
            name: 'DNS',
            type: 'oauth_client_credentials',
            clientId,
            clientSecret,
            tokenUrl: `http://${host}:${port}/v1/oauth/token`,
          });
        expect(created.status).toBe(201);
        expect(created.body.tokenUrl).toBe(`http://localhost:${port}/v1/oauth/token`);
        const client = await eventually(async () => {
          const res = await byName.http().get(`/v1/clients/${created.body.id}`).set(admin);
          return res.body.status.state === 'rejected' ? res.body : null;
        });
        expect(client.status.lastError).toMatch(/address_not_allowed/);
        expect(upstream.tokenRequestCount(clientId)).toBe(0);
        // Rotation checks the new secret against the same URL: refused the same way, without a request.
        const rotated = await byName
          .http()
          .put(`/v1/clients/${created.body.id}/secret`)
          .set(admin)
          .send({ clientSecret: randomSecret() });
        expect(rotated.status).toBe(422);
        expect(upstream.tokenRequestCount(clientId)).toBe(0);
      }
    } finally {
      await byName.close();
    }
  });

  it('connects by name when the allowlist also names the address the name resolves to (localhost and 127.0.0.1)', async () => {
    const clientId = `pd_${randomSecret('named')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await register(
      `http://localhost:${new URL(upstream.baseUrl).port}/v1/oauth/token`,
      clientId,
      clientSecret,
    );
    const token = await eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${created.body.id}/token`).set(admin);
      return res.status === 200 ? res.body : null;
    });
    expect(token.access_token).toMatch(/^pd_at_/);
  });

  it('still reaches an address the allowlist names itself (127.0.0.1)', async () => {
    const clientId = `pd_${randomSecret('ok')}`;
    const clientSecret = randomSecret();
    upstream.addClient(clientId, clientSecret);
    const created = await register(upstream.tokenUrl, clientId, clientSecret);
    const token = await eventually(async () => {
      const res = await broker.http().get(`/v1/clients/${created.body.id}/token`).set(admin);
      return res.status === 200 ? res.body : null;
    });
    expect(token.access_token).toMatch(/^pd_at_/);
  });
});
