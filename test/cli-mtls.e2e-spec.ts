import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { eventually } from './support/broker';
import { CliRunner, startCliBroker, type CliBroker } from './support/cli-runner';
import { TestPki, type Issued } from './support/test-pki';

/**
 * `clients add` and `clients rotate` of a tls_client_auth client from PEM
 * files, the built CLI against a broker process on Redis and an HTTPS token
 * endpoint (test CA, trusted through NODE_EXTRA_CA_CERTS) that gives a token
 * only to a certificate of its CA whose subject is the client id, as
 * test/mtls.e2e-spec.ts does for the API.
 */

jest.setTimeout(90_000);

describe('token-broker clients with tls_client_auth', () => {
  const pki = new TestPki();
  let trusted: Issued;
  let next: Issued;
  let rogue: Issued;
  let server: Server;
  let cliBroker: CliBroker;
  let baseUrl: string;
  let dir: string;
  const cli = new CliRunner(
    () => baseUrl,
    () => dir,
  );

  beforeAll(async () => {
    const serverCa = pki.ca('trusted-ca');
    pki.ca('rogue-ca');
    const serverCert = pki.issue('trusted-ca', 'server', '127.0.0.1', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
    trusted = pki.issue('trusted-ca', 'client', 'svc-mtls');
    next = pki.issue('trusted-ca', 'client-2', 'svc-mtls', { days: 1 });
    rogue = pki.issue('rogue-ca', 'rogue', 'svc-mtls');
    server = createServer(
      {
        key: serverCert.privateKey,
        cert: serverCert.certificate,
        ca: [readFileSync(serverCa.path, 'utf8')],
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void answer(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cliBroker = await startCliBroker('climtls', {
      TOKEN_URL_ALLOWLIST: '127.0.0.1',
      DEFAULT_TOKEN_URL: `https://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`,
      NODE_EXTRA_CA_CERTS: serverCa.path,
    });
    ({ baseUrl, dir } = cliBroker);
  });
  afterAll(async () => {
    await cliBroker?.stop();
    await new Promise((resolve) => server?.close(resolve));
    pki.remove();
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const socket = req.socket as TLSSocket;
    const commonName = socket.getPeerCertificate()?.subject?.CN;
    const json = (status: number, value: object) =>
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
    if (!socket.authorized || commonName !== new URLSearchParams(body).get('client_id'))
      return void json(401, { error: 'invalid_client', error_description: 'client certificate not trusted' });
    json(200, { access_token: `mtls_${randomBytes(16).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 });
  }

  const files = (material: Issued) => [
    '--certificate-file',
    cli.file(material.certificate, 'cert.pem'),
    '--private-key-file',
    cli.file(material.privateKey, 'key.pem'),
  ];
  const notAfterOf = (material: Issued) => new Date(new X509Certificate(material.certificate).validTo).toISOString();

  it('adds from a certificate and key file, shows when the certificate expires, and rotates to a new pair', async () => {
    const added = await cli.run([
      'clients',
      'add',
      '--workspace',
      'o_cli_mtls',
      '--name',
      'mTLS',
      '--client-id',
      'svc-mtls',
      '--auth-method',
      'tls_client_auth',
      ...files(trusted),
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^auth method:\s+tls_client_auth$/m);
    expect(added.stdout).toMatch(
      new RegExp(`^certificate expires:\\s+${notAfterOf(trusted).replace(/\./g, '\\.')}$`, 'm'),
    );
    expect(added.stdout).not.toMatch(/^(key id|signing alg):/m);
    const id = /^id:\s+(\S+)$/m.exec(added.stdout)?.[1] ?? '';
    const view = async () => JSON.parse((await cli.run(['clients', 'get', id, '--json'])).stdout);
    await eventually(async () => (await view()).status.state === 'ready', 20_000, 200);

    const refused = await cli.run(['clients', 'rotate', id, ...files(rogue)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\(credentials_rejected, HTTP 422\)\n$/);
    expect((await view()).certificateExpiresAt).toBe(notAfterOf(trusted));

    const onlyKey = await cli.run([
      'clients',
      'rotate',
      id,
      '--private-key-file',
      cli.file(next.privateKey, 'key.pem'),
    ]);
    expect(onlyKey.code).toBe(2);
    expect(onlyKey.stderr).toMatch(/uses tls_client_auth: give the new certificate with --certificate-file/);

    const rotated = await cli.run(['clients', 'rotate', id, ...files(next), '--json']);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({
      certificateExpiresAt: notAfterOf(next),
      status: { state: 'ready' },
    });
  });

  it('never had key material in its arguments, and never printed it', () => {
    const pemBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    cli.expectNeverShown(
      [trusted, next, rogue].flatMap((material) => [pemBody(material.privateKey), pemBody(material.certificate)]),
    );
    expect(cli.outputs.join('\n')).not.toContain('BEGIN');
  });
});
