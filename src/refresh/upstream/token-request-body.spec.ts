import { generateKeyPairSync } from 'node:crypto';
import { Agent } from 'node:https';
import { tokenRequestBody } from './token-request-body';
import type { ClientProof, TokenRequest } from './upstream.types';

const request = (proof: ClientProof, overrides: Partial<TokenRequest> = {}): TokenRequest => ({
  clientKey: 'cl_1',
  tokenUrl: 'https://idp.example/token',
  clientId: 'svc:1',
  scope: 'read',
  format: 'form',
  proof,
  extraParams: { resource: 'https://api.example', audience: 'api' },
  defaultExpiresInSeconds: 3_600,
  ...overrides,
});

describe('token request bodies', () => {
  it('client_secret_post: the secret in the JSON body or the form, with the extra parameters', () => {
    const json = tokenRequestBody(request({ method: 'client_secret_post', clientSecret: 's+1' }, { format: 'json' }));
    expect(JSON.parse(json.body)).toEqual({
      resource: 'https://api.example',
      audience: 'api',
      grant_type: 'client_credentials',
      scope: 'read',
      client_id: 'svc:1',
      client_secret: 's+1',
    });
    const form = tokenRequestBody(request({ method: 'client_secret_post', clientSecret: 's+1' }));
    expect(Object.fromEntries(new URLSearchParams(form.body))).toMatchObject({
      client_id: 'svc:1',
      client_secret: 's+1',
      resource: 'https://api.example',
    });
    expect(form).toMatchObject({ json: false, basicCredential: null, sensitive: ['s+1'] });
  });

  it('client_secret_basic: nothing secret in the body; the Basic credential form-encodes each half', () => {
    const built = tokenRequestBody(request({ method: 'client_secret_basic', clientSecret: 'p+ss:' }));
    expect(Object.fromEntries(new URLSearchParams(built.body))).toEqual({
      resource: 'https://api.example',
      audience: 'api',
      grant_type: 'client_credentials',
      scope: 'read',
    });
    expect(Buffer.from(built.basicCredential ?? '', 'base64').toString()).toBe('svc%3A1:p%2Bss%3A');
  });

  it('private_key_jwt: client_id, the assertion type and a new assertion for every request; the key and assertion are redacted', () => {
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const proof: ClientProof = {
      method: 'private_key_jwt',
      privateKey: pair.privateKey,
      privateKeyPem: pem,
      keyId: null,
      alg: 'EdDSA',
    };
    const first = tokenRequestBody(request(proof));
    const second = tokenRequestBody(request(proof));
    const params = Object.fromEntries(new URLSearchParams(first.body));
    expect(params).toMatchObject({
      client_id: 'svc:1',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      grant_type: 'client_credentials',
    });
    expect(params.client_assertion).not.toBe(Object.fromEntries(new URLSearchParams(second.body)).client_assertion);
    expect(first.sensitive).toContain(params.client_assertion);
    expect(first.sensitive[0]).toBe(pem.split('\n').slice(1, -2).join(''));
  });

  it("tls_client_auth: only client_id in the body; the broker's own parameters win over extra ones of the same name", () => {
    const agent = new Agent();
    const built = tokenRequestBody(
      request(
        { method: 'tls_client_auth', agent, privateKeyPem: 'k', certificatePem: 'c' },
        { extraParams: { grant_type: 'password' } },
      ),
    );
    expect(Object.fromEntries(new URLSearchParams(built.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'read',
      client_id: 'svc:1',
    });
    agent.destroy();
  });
});
