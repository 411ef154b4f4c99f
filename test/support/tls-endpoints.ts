import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ADMIN_KEY, ENCRYPTION_KEY } from './broker';
import { spawnBroker, waitForOutput, type BrokerProcess } from './broker-process';
import { freePort } from './redis-server';
import type { Issued } from './test-pki';

/** An HTTPS server of the test CA on 127.0.0.1, with what it received. */
export interface TlsEndpoint {
  url: string;
  received: { headers: IncomingHttpHeaders; body: string }[];
  stop(): Promise<void>;
}

async function listen(server: Server, path: string): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

const stopper = (server: Server) => () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/**
 * A token endpoint doing mutual TLS (RFC 8705 section 2.1), as mtls.e2e-spec.ts
 * has it: a certificate of its CA whose subject CN is the form body's
 * client_id gets a token; any other is 401 invalid_client.
 */
export async function startMtlsTokenEndpoint(serverCert: Issued, ca: string): Promise<TlsEndpoint> {
  const received: TlsEndpoint['received'] = [];
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    received.push({ headers: req.headers, body });
    const socket = req.socket as TLSSocket;
    const subject = socket.getPeerCertificate()?.subject?.CN;
    const ok = socket.authorized && subject === new URLSearchParams(body).get('client_id');
    const [status, value] = ok
      ? [200, { access_token: `mtls_${randomBytes(16).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 }]
      : [401, { error: 'invalid_client', error_description: 'client certificate not trusted for this client' }];
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
  };
  const server = createServer(
    {
      key: serverCert.privateKey,
      cert: serverCert.certificate,
      ca: [ca],
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => void answer(req, res),
  );
  return { url: await listen(server, '/oauth2/token'), received, stop: stopper(server) };
}

/** A webhook receiver over https (the URL a webhook must have), answering 204 to everything. */
export async function startHttpsWebhookReceiver(serverCert: Issued): Promise<TlsEndpoint> {
  const received: TlsEndpoint['received'] = [];
  const server = createServer({ key: serverCert.privateKey, cert: serverCert.certificate }, (req, res) => {
    void readBody(req).then((body) => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  return { url: await listen(server, '/hooks/token-broker'), received, stop: stopper(server) };
}

/**
 * The compiled broker as a process that trusts the test CA through
 * NODE_EXTRA_CA_CERTS, as operators trust a private CA (read at process
 * start, so an in-process broker cannot), with short test timings.
 */
export async function spawnBrokerTrusting(
  caPath: string,
  env: Record<string, string>,
): Promise<{ broker: BrokerProcess; url: string }> {
  const port = await freePort();
  const broker = spawnBroker({
    PORT: String(port),
    HOST: '127.0.0.1',
    BROKER_ADMIN_KEYS: ADMIN_KEY,
    BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
    NODE_EXTRA_CA_CERTS: caPath,
    WEBHOOK_RETRY_SECONDS: '1,1',
    MIN_TOKEN_TTL_SECONDS: '2',
    SCHEDULER_TICK_MS: '100',
    FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
    ...env,
  });
  await waitForOutput(broker.stdout, /token-broker listening/);
  return { broker, url: `http://127.0.0.1:${port}` };
}
