import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { SigningAlg } from '../../src/store/store.types';
import { waitForOutput } from './broker-process';

const SCRIPT = join(__dirname, 'oidc-provider-server.mjs');

/** Client metadata as oidc-provider takes it (RFC 7591 names). */
export type OidcClient = Record<string, unknown> & { client_id: string };

export interface OidcProvider {
  issuer: string;
  tokenUrl: string;
  /** RFC 7662 introspection of a token the provider issued, authenticated as the introspector client. */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** A raw form POST to the token endpoint. */
  postToken(params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

const INTROSPECTOR = { client_id: 'introspector', client_secret: `intro-${randomBytes(16).toString('hex')}` };

/** Client-credentials-only metadata, as a service app is registered. */
export function serviceClient(metadata: OidcClient): OidcClient {
  return { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...metadata };
}

/**
 * panva/oidc-provider (OpenID Certified) in a child process on a free
 * loopback port, with the client-credentials grant, RFC 7662 introspection
 * and RFC 8707 resource indicators, and the given clients.
 */
export async function startOidcProvider(clients: OidcClient[]): Promise<OidcProvider> {
  const all = [...clients, serviceClient({ ...INTROSPECTOR, token_endpoint_auth_method: 'client_secret_basic' })];
  const child: ChildProcess = spawn(process.execPath, [SCRIPT, JSON.stringify({ clients: all })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk) => (out += chunk));
  child.stderr?.on('data', (chunk) => (out += chunk));
  const [, issuer] = await waitForOutput(() => out, /ready (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
  const form = async (path: string, params: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const basic = `Basic ${Buffer.from(`${INTROSPECTOR.client_id}:${INTROSPECTOR.client_secret}`).toString('base64')}`;
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    introspect: async (token) => (await form('/token/introspection', { token }, { Authorization: basic })).body,
    postToken: (params) => form('/token', params),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface TestKeyPair {
  privateKey: KeyObject;
  /** PKCS#8 PEM, as the broker takes it. */
  pem: string;
  /** The public JWK, with its kid, as the provider's client metadata lists it. */
  jwk: Record<string, unknown>;
}

/** A fresh key pair of the type the algorithm signs with. */
export function keyPairFor(alg: SigningAlg, kid: string): TestKeyPair {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: pair.privateKey,
    pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' },
  };
}
