import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import request from 'supertest';
import { ADMIN_KEY, ENCRYPTION_KEY, eventually } from './support/broker';
import { spawnBroker, waitForOutput, type BrokerProcess } from './support/broker-process';
import { freePort } from './support/redis-server';
import { TestPki, type Issued } from './support/test-pki';

/**
 * tls_client_auth (RFC 8705 section 2.1) against an HTTPS token endpoint
 * whose certificate comes from a test CA, trusted by the broker process
 * through NODE_EXTRA_CA_CERTS as operators would. The endpoint asks every
 * connection for a client certificate and answers like an authorization
 * server: a certificate of its CA whose subject is the client id gets a
 * token; any other is 401 invalid_client.
 */

jest.setTimeout(90_000);

const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

interface Seen {
  clientId: string | null;
  subject: string | null;
  authorized: boolean;
  body: string;
}

describe('mutual TLS (tls_client_auth)', () => {
  const pki = new TestPki();
  let trusted: Issued;
  let rogue: Issued;
  let expired: Issued;
  let rotatedCert: Issued;
  let serverCa: { path: string };
  let server: Server;
  let tokenUrl: string;
  let broker: BrokerProcess;
  let http: ReturnType<typeof request>;
  const seen: Seen[] = [];

  beforeAll(async () => {
    serverCa = pki.ca('trusted-ca');
    pki.ca('rogue-ca');
    const serverCert = pki.issue('trusted-ca', 'server', '127.0.0.1', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
    trusted = pki.issue('trusted-ca', 'client', 'svc-mtls');
    // Shorter-lived than the others: once rotated to, it is the least remaining life /metrics shows.
    rotatedCert = pki.issue('trusted-ca', 'client-2', 'svc-mtls', { days: 1 });
    rogue = pki.issue('rogue-ca', 'rogue', 'svc-mtls');
    expired = pki.issue('trusted-ca', 'expired', 'svc-mtls', { days: -1 });
    server = createServer(
      // Client certificates are asked for and checked by the handler, as an authorization server does, so a wrong one is a 401.
      {
        key: serverCert.privateKey,
        cert: serverCert.certificate,
        ca: [readCa()],
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void answer(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    tokenUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
    const port = await freePort();
    broker = spawnBroker({
      PORT: String(port),
      HOST: '127.0.0.1',
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
      TOKEN_URL_ALLOWLIST: '127.0.0.1',
      DEFAULT_TOKEN_URL: tokenUrl,
      NODE_EXTRA_CA_CERTS: serverCa.path,
      MIN_TOKEN_TTL_SECONDS: '2',
      SCHEDULER_TICK_MS: '100',
      FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
    });
    await waitForOutput(broker.stdout, /token-broker listening/);
    http = request(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    broker?.child.kill('SIGTERM');
    await broker?.exited;
    await new Promise((resolve) => server?.close(resolve));
    pki.remove();
  });

  function readCa(): string {
    return readFileSync(serverCa.path, 'utf8');
  }

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const clientId = new URLSearchParams(body).get('client_id');
    const commonName = peer?.subject?.CN;
    const subject = typeof commonName === 'string' ? commonName : null;
    seen.push({ clientId, subject, authorized: socket.authorized, body });
    const json = (status: number, value: object): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
    };
    if (!socket.authorized || subject !== clientId) {
      return json(401, {
        error: 'invalid_client',
        error_description: 'client certificate not trusted for this client',
      });
    }
    json(200, { access_token: `mtls_${randomBytes(16).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 });
  }

  const register = (material: Issued, extra: Record<string, unknown> = {}) =>
    http
      .post('/v1/clients')
      .set(admin)
      .send({
        workspaceId: 'o_mtls',
        name: 'mTLS',
        type: 'oauth_client_credentials',
        clientId: 'svc-mtls',
        tokenEndpointAuthMethod: 'tls_client_auth',
        clientCertificate: material.certificate,
        privateKey: material.privateKey,
        ...extra,
      });

  async function stateOf(id: string, state: string) {
    return eventually(async () => {
      const view = (await http.get(`/v1/clients/${id}`).set(admin)).body;
      return view.status.state === state ? view : null;
    }, 20_000);
  }

  it('the right certificate (with its chain) gets a token; the view shows when it expires, /metrics the least life left', async () => {
    const res = await register({ ...trusted, certificate: `${trusted.certificate}${readCa()}` });
    expect(res.status).toBe(201);
    const notAfter = new Date(new X509Certificate(trusted.certificate).validTo).toISOString();
    expect(res.body).toMatchObject({
      tokenEndpointAuthMethod: 'tls_client_auth',
      tokenRequestFormat: 'form',
      certificateExpiresAt: notAfter,
    });
    expect(res.text).not.toContain('BEGIN');
    const token = await eventually(async () => {
      const answer = await http.get(`/v1/clients/${res.body.id}/token`).set(admin);
      return answer.status === 200 ? answer.body : null;
    }, 20_000);
    expect(token.access_token).toMatch(/^mtls_/);
    const request = seen.find((entry) => entry.authorized);
    expect(request).toMatchObject({ clientId: 'svc-mtls', subject: 'svc-mtls' });
    expect(Object.fromEntries(new URLSearchParams(request?.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'svc-mtls',
    });

    const metrics = (await http.get('/metrics')).text;
    const line = metrics
      .split('\n')
      .find((entry) => entry.startsWith('tb_client_certificate_least_remaining_seconds{'));
    expect(line).toContain(`client="${res.body.id}"`);
    const remaining = Number(line?.split(' ').at(-1));
    const expected = (Date.parse(notAfter) - Date.now()) / 1_000;
    expect(Math.abs(remaining - expected)).toBeLessThan(30);
  });

  it("a certificate of another CA is rejected, with the server's error", async () => {
    const res = await http.post('/v1/clients').set(admin).send({
      workspaceId: 'o_mtls_rogue',
      name: 'rogue',
      type: 'oauth_client_credentials',
      clientId: 'svc-mtls',
      tokenEndpointAuthMethod: 'tls_client_auth',
      clientCertificate: rogue.certificate,
      privateKey: rogue.privateKey,
    });
    expect(res.status).toBe(201);
    const view = await stateOf(res.body.id, 'rejected');
    expect(view.status.lastError).toContain('invalid_client');
  });

  it('an expired certificate, or one of another key, is 400 at registration naming clientCertificate', async () => {
    const stale = await register(expired, { workspaceId: 'o_mtls_expired' });
    expect(stale.status).toBe(400);
    expect(stale.body.details).toEqual([
      { field: 'clientCertificate', problems: [expect.stringMatching(/^the certificate expired on /)] },
    ]);
    const mismatched = await register(
      { certificate: trusted.certificate, privateKey: rogue.privateKey },
      { workspaceId: 'o_mtls_mismatch' },
    );
    expect(mismatched.status).toBe(400);
    expect(mismatched.body.details).toEqual([
      { field: 'clientCertificate', problems: [expect.stringContaining("public key is not the privateKey's")] },
    ]);
    expect(`${stale.text}${mismatched.text}`).not.toContain('BEGIN');
  });

  it('rotation is verified first: a certificate of another CA is 422, a new one of the right CA replaces the old; deletion drops it from /metrics', async () => {
    const created = await register(trusted, { workspaceId: 'o_mtls_rotate' });
    const id = created.body.id;
    await stateOf(id, 'ready');
    const refused = await http
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ clientCertificate: rogue.certificate, privateKey: rogue.privateKey });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 422, code: 'credentials_rejected' });
    const incomplete = await http
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ clientCertificate: rotatedCert.certificate });
    expect(incomplete.body.details).toEqual([
      { field: 'privateKey', problems: ['privateKey is required for tls_client_auth clients'] },
    ]);
    const rotated = await http
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ clientCertificate: rotatedCert.certificate, privateKey: rotatedCert.privateKey });
    expect(rotated.status).toBe(200);
    expect(rotated.body.status.state).toBe('ready');
    expect(rotated.body.secretHint).not.toBe(created.body.secretHint);
    expect(rotated.body.certificateExpiresAt).toBe(
      new Date(new X509Certificate(rotatedCert.certificate).validTo).toISOString(),
    );
    await eventually(async () => (await http.get('/metrics')).text.includes(`client="${id}"`), 10_000);

    expect((await http.delete(`/v1/clients/${id}`).set(admin)).status).toBe(204);
    await eventually(async () => !(await http.get('/metrics')).text.includes(`client="${id}"`), 10_000);
  });

  it('tls_client_auth needs an https token URL', async () => {
    const res = await register(trusted, { workspaceId: 'o_mtls_http', tokenUrl: 'http://127.0.0.1:1/token' });
    expect(res.status).toBe(400);
    expect(res.body.details.map((detail: { field: string }) => detail.field)).toContain('tokenUrl');
  });
});
