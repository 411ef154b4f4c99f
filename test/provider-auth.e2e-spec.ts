import { randomBytes } from 'node:crypto';
import { jwkThumbprint } from '../src/client-auth/key-material';
import { signClientAssertion } from '../src/client-auth/client-assertion';
import { admin, eventually, startBroker, type TestBroker } from './support/broker';
import {
  keyPairFor,
  serviceClient,
  startOidcProvider,
  type OidcProvider,
  type TestKeyPair,
} from './support/oidc-provider';

/**
 * The broker against a certified OpenID provider (panva/oidc-provider, run
 * by the test on a free port), which verifies what the broker sends and
 * whose introspection endpoint says what it issued: every client
 * authentication method it shares with the broker obtains a token, extra
 * parameters reach it, a wrong key is refused, a replayed assertion too,
 * and key rotation is verified first.
 */

jest.setTimeout(90_000);

const secret = () => `s_${randomBytes(16).toString('hex')}`;
const hintOf = (pair: TestKeyPair) => jwkThumbprint(pair.privateKey).slice(-4);

describe('client authentication against oidc-provider', () => {
  const postSecret = secret();
  const basicSecret = secret();
  const keys = {
    RS256: keyPairFor('RS256', 'rs-1'),
    PS256: keyPairFor('PS256', 'ps-1'),
    ES256: keyPairFor('ES256', 'es-1'),
    EdDSA: keyPairFor('EdDSA', 'ed-1'),
  };
  const nextEs = keyPairFor('ES256', 'es-2');
  const unknownEs = keyPairFor('ES256', 'es-unknown');
  const wrongRsa = keyPairFor('RS256', 'rs-wrong');
  let provider: OidcProvider;
  let broker: TestBroker;

  beforeAll(async () => {
    provider = await startOidcProvider([
      serviceClient({
        client_id: 'svc-post',
        client_secret: postSecret,
        token_endpoint_auth_method: 'client_secret_post',
      }),
      serviceClient({
        client_id: 'svc-basic',
        client_secret: basicSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      }),
      serviceClient({
        client_id: 'svc-RS256',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [keys.RS256.jwk] },
      }),
      // PS256 only: an RS256 assertion from this client would be refused.
      serviceClient({
        client_id: 'svc-PS256',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'PS256',
        jwks: { keys: [keys.PS256.jwk] },
      }),
      serviceClient({
        client_id: 'svc-ES256',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [keys.ES256.jwk, nextEs.jwk] },
      }),
      serviceClient({
        client_id: 'svc-EdDSA',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [keys.EdDSA.jwk] },
      }),
    ]);
    broker = await startBroker({
      env: { DEFAULT_TOKEN_URL: provider.tokenUrl, TOKEN_URL_ALLOWLIST: 'http://127.0.0.1' },
    });
  });
  afterAll(async () => {
    await broker?.close();
    await provider?.stop();
  });

  async function register(body: Record<string, unknown>): Promise<{ id: string; view: Record<string, unknown> }> {
    const res = await broker
      .http()
      .post('/v1/clients')
      .set(admin)
      .send({
        workspaceId: `o_${randomBytes(4).toString('hex')}`,
        name: 'oidc',
        type: 'oauth_client_credentials',
        ...body,
      });
    expect({ status: res.status, body: res.status === 201 ? 'ok' : res.body }).toEqual({ status: 201, body: 'ok' });
    return { id: res.body.id, view: res.body };
  }

  async function tokenOf(id: string): Promise<string> {
    const res = await eventually(async () => {
      const answer = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
      return answer.status === 200 ? answer : null;
    }, 20_000);
    return res.body.access_token;
  }

  async function viewOf(id: string) {
    return (await broker.http().get(`/v1/clients/${id}`).set(admin)).body;
  }

  it.each([
    [
      'client_secret_post',
      {
        clientId: 'svc-post',
        clientSecret: postSecret,
        tokenEndpointAuthMethod: 'client_secret_post',
        tokenRequestFormat: 'form',
      },
    ],
    ['client_secret_basic', { clientId: 'svc-basic', clientSecret: basicSecret, tokenRequestFormat: 'form' }],
  ])('%s obtains a token the provider says it issued to that client', async (method, body) => {
    const { id, view } = await register(body);
    expect(view).toMatchObject({
      tokenEndpointAuthMethod: method,
      tokenRequestFormat: 'form',
      secretHint: body.clientSecret.slice(-4),
      extraParams: {},
      defaultExpiresInSeconds: 3600,
    });
    const introspected = await provider.introspect(await tokenOf(id));
    expect(introspected).toMatchObject({ active: true, client_id: body.clientId, iss: provider.issuer });
  });

  it.each(['RS256', 'PS256', 'ES256', 'EdDSA'] as const)(
    'private_key_jwt signing %s obtains a token; the view shows the algorithm and the key thumbprint hint',
    async (alg) => {
      const pair = keys[alg];
      const { id, view } = await register({
        clientId: `svc-${alg}`,
        tokenEndpointAuthMethod: 'private_key_jwt',
        privateKey: pair.pem,
        keyId: pair.jwk.kid,
        ...(alg === 'PS256' && { signingAlg: 'PS256' }),
      });
      expect(view).toMatchObject({
        tokenEndpointAuthMethod: 'private_key_jwt',
        tokenRequestFormat: 'form',
        signingAlg: alg,
        keyId: pair.jwk.kid,
        secretHint: hintOf(pair),
        certificateExpiresAt: null,
      });
      expect(JSON.stringify(view)).not.toContain('PRIVATE KEY');
      const introspected = await provider.introspect(await tokenOf(id));
      expect(introspected).toMatchObject({ active: true, client_id: `svc-${alg}` });
    },
  );

  it('extraParams.resource yields a token whose audience is that resource', async () => {
    const resource = 'https://api.example.com/orders';
    const { id, view } = await register({
      clientId: 'svc-EdDSA',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKey: keys.EdDSA.pem,
      extraParams: { resource },
    });
    expect(view.extraParams).toEqual({ resource });
    expect(await provider.introspect(await tokenOf(id))).toMatchObject({
      active: true,
      aud: resource,
      client_id: 'svc-EdDSA',
    });
  });

  it("a key the provider does not know is rejected, with the provider's error in lastError", async () => {
    const { id } = await register({
      clientId: 'svc-RS256',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKey: wrongRsa.pem,
    });
    const view = await eventually(async () => {
      const current = await viewOf(id);
      return current.status.state === 'rejected' ? current : null;
    }, 20_000);
    expect(view.status.lastError).toContain('invalid_client');
    const token = await broker.http().get(`/v1/clients/${id}/token`).set(admin);
    expect(token.status).toBe(502);
  });

  it('a replayed assertion is refused by the provider; the broker signs a new one for every request', async () => {
    const assertion = signClientAssertion({
      clientId: 'svc-RS256',
      audience: provider.tokenUrl,
      privateKey: keys.RS256.privateKey,
      keyId: 'rs-1',
      alg: 'RS256',
    });
    const params = {
      grant_type: 'client_credentials',
      client_id: 'svc-RS256',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    };
    expect((await provider.postToken(params)).status).toBe(200);
    const replayed = await provider.postToken(params);
    expect({ status: replayed.status, error: replayed.body.error }).toEqual({ status: 401, error: 'invalid_client' });

    const { id } = await register({
      clientId: 'svc-RS256',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKey: keys.RS256.pem,
    });
    const tokens = new Set([await tokenOf(id)]);
    for (let round = 0; round < 2; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // past FORCE_REFRESH_MIN_INTERVAL_SECONDS
      const forced = await broker.http().post(`/v1/clients/${id}/token/refresh`).set(admin).send({});
      expect(forced.status).toBe(200);
      tokens.add(forced.body.access_token);
    }
    expect(tokens.size).toBe(3);
  });

  it('rotation to a new key pair is verified first; a key the provider does not know is 422 and the old key stays; ?verify=false skips the check', async () => {
    const { id } = await register({
      clientId: 'svc-ES256',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKey: keys.ES256.pem,
      keyId: 'es-1',
    });
    const before = await tokenOf(id);

    const refused = await broker
      .http()
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ privateKey: unknownEs.pem, keyId: 'es-unknown' });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 422, code: 'credentials_rejected' });
    expect(await viewOf(id)).toMatchObject({ secretHint: hintOf(keys.ES256), keyId: 'es-1' });
    expect(await tokenOf(id)).toBe(before);

    const rotated = await broker
      .http()
      .put(`/v1/clients/${id}/secret`)
      .set(admin)
      .send({ privateKey: nextEs.pem, keyId: 'es-2' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({
      secretHint: hintOf(nextEs),
      keyId: 'es-2',
      signingAlg: 'ES256',
      status: { state: 'ready' },
    });
    const after = await tokenOf(id);
    expect(after).not.toBe(before);
    expect(await provider.introspect(after)).toMatchObject({ active: true, client_id: 'svc-ES256' });

    const unverified = await broker
      .http()
      .put(`/v1/clients/${id}/secret?verify=false`)
      .set(admin)
      .send({ privateKey: unknownEs.pem });
    expect(unverified.status).toBe(200);
    expect(unverified.body).toMatchObject({ secretHint: hintOf(unknownEs), keyId: null, status: { state: 'pending' } });
    await eventually(async () => (await viewOf(id)).status.state === 'rejected', 20_000);
  });

  it('changing a provider setting drops the held token and fetches a new one', async () => {
    const { id } = await register({
      clientId: 'svc-post',
      clientSecret: postSecret,
      tokenEndpointAuthMethod: 'client_secret_post',
      tokenRequestFormat: 'form',
    });
    const before = await tokenOf(id);
    const patched = await broker
      .http()
      .patch(`/v1/clients/${id}`)
      .set(admin)
      .send({ extraParams: { resource: 'https://api.example.com/b' } });
    expect(patched.body).toMatchObject({
      extraParams: { resource: 'https://api.example.com/b' },
      status: { state: 'pending', tokenExpiresAt: null },
    });
    const after = await tokenOf(id);
    expect(after).not.toBe(before);
    expect(await provider.introspect(after)).toMatchObject({ aud: 'https://api.example.com/b' });
  });

  it('registration refuses, naming the field: a PEM that does not parse, a key type that does not fit signingAlg, json with a key method, a reserved extra parameter', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        {
          tokenEndpointAuthMethod: 'private_key_jwt',
          privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
        },
        'privateKey',
      ],
      [{ tokenEndpointAuthMethod: 'private_key_jwt', privateKey: keys.ES256.pem, signingAlg: 'RS256' }, 'signingAlg'],
      [
        { tokenEndpointAuthMethod: 'private_key_jwt', privateKey: keys.ES256.pem, tokenRequestFormat: 'json' },
        'tokenEndpointAuthMethod',
      ],
      [{ clientSecret: postSecret, extraParams: { client_assertion: 'x' } }, 'extraParams'],
      [{ clientSecret: postSecret, defaultExpiresInSeconds: 59 }, 'defaultExpiresInSeconds'],
      [{ clientSecret: postSecret, privateKey: keys.ES256.pem }, 'privateKey'],
    ];
    for (const [body, field] of cases) {
      const res = await broker
        .http()
        .post('/v1/clients')
        .set(admin)
        .send({ workspaceId: 'o_bad', name: 'bad', type: 'oauth_client_credentials', clientId: 'svc-x', ...body });
      expect({
        field,
        status: res.status,
        fields: res.body.details?.map((detail: { field: string }) => detail.field),
      }).toEqual({ field, status: 400, fields: [field] });
      expect(res.text).not.toContain('PRIVATE KEY');
    }
  });
});
