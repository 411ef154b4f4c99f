// The console's form logic reads browser types (its api module).
/// <reference lib="dom" />
import { extraParamsOf } from '../console/src/components/extra-params-rows';
import { rotationBody, rotationKindOf } from '../console/src/pages/client/rotation';
import { EMPTY_DRAFT, materialMissing, registrationBody, type Draft } from '../console/src/pages/register/draft';
import type { ClientView } from '../console/src/api';

/**
 * What the console's registration and rotation forms send: the fields of the
 * client's method only, json only with client_secret_post (SPEC "Provider
 * settings and client authentication"), no empty optional field.
 */
const draft = (changes: Partial<Draft>): Draft => ({
  ...EMPTY_DRAFT,
  workspaceId: ' o_1 ',
  name: 'n',
  clientId: 'c',
  secret: 's3cret-value',
  ...changes,
});
const PEM = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';

describe('console registration body', () => {
  it('client_secret_post with json, as Pipedream takes it; no empty optional field', () => {
    expect(registrationBody(draft({}))).toEqual({
      workspaceId: 'o_1',
      name: 'n',
      type: 'oauth_client_credentials',
      clientId: 'c',
      tokenEndpointAuthMethod: 'client_secret_post',
      tokenRequestFormat: 'json',
      clientSecret: 's3cret-value',
    });
  });

  it('a key method sends the form, its key material only, and the optional settings given', () => {
    const body = registrationBody(
      draft({
        tokenEndpointAuthMethod: 'private_key_jwt',
        tokenRequestFormat: 'json',
        privateKey: PEM,
        keyId: ' k1 ',
        signingAlg: 'PS256',
        params: [
          { name: 'resource', value: 'https://api.example.com' },
          { name: '', value: '' },
        ],
        defaultExpiresInSeconds: '1800',
        tokenUrl: 'https://idp.example.com/token',
      }),
    );
    expect(body).toEqual({
      workspaceId: 'o_1',
      name: 'n',
      type: 'oauth_client_credentials',
      clientId: 'c',
      tokenEndpointAuthMethod: 'private_key_jwt',
      tokenRequestFormat: 'form',
      privateKey: PEM,
      keyId: 'k1',
      signingAlg: 'PS256',
      tokenUrl: 'https://idp.example.com/token',
      extraParams: { resource: 'https://api.example.com' },
      defaultExpiresInSeconds: 1800,
    });
    expect(body).not.toHaveProperty('clientSecret');
  });

  it('tls_client_auth sends certificate and key; says which file is missing', () => {
    const tls = draft({ tokenEndpointAuthMethod: 'tls_client_auth' });
    expect(materialMissing(tls)).toMatch(/certificate/);
    expect(materialMissing({ ...tls, clientCertificate: CERT })).toMatch(/private key/);
    const body = registrationBody({ ...tls, clientCertificate: CERT, privateKey: PEM });
    expect(body).toMatchObject({ tokenRequestFormat: 'form', clientCertificate: CERT, privateKey: PEM });
    expect(body).not.toHaveProperty('clientSecret');
  });

  it('an api_key client sends its key alone', () => {
    expect(registrationBody(draft({ type: 'api_key', params: [{ name: 'a', value: 'b' }] }))).toEqual({
      workspaceId: 'o_1',
      name: 'n',
      type: 'api_key',
      apiKey: 's3cret-value',
    });
  });

  it('a lifetime that is not a whole number is sent as typed, for the broker to name the field', () => {
    expect(registrationBody(draft({ defaultExpiresInSeconds: '1h' }))).toMatchObject({ defaultExpiresInSeconds: '1h' });
  });

  it('extra parameter rows: blank rows left out, a value without a name kept for the broker to refuse', () => {
    expect(
      extraParamsOf([
        { name: ' audience ', value: 'x' },
        { name: '', value: '' },
        { name: '', value: 'y' },
      ]),
    ).toEqual({ audience: 'x', '': 'y' });
  });
});

describe('console rotation body', () => {
  const view = (changes: Partial<ClientView>) => ({ type: 'oauth_client_credentials', ...changes }) as ClientView;
  const none = { secret: '', privateKey: '', clientCertificate: '', keyId: '' };

  it('takes the material of the client method', () => {
    expect(rotationKindOf(view({ type: 'api_key' }))).toBe('api_key');
    expect(rotationKindOf(view({ tokenEndpointAuthMethod: 'client_secret_basic' }))).toBe('secret');
    expect(rotationKindOf(view({}))).toBe('secret');
    expect(rotationKindOf(view({ tokenEndpointAuthMethod: 'tls_client_auth' }))).toBe('tls_client_auth');
    expect(rotationBody('secret', { ...none, secret: 'x' })).toEqual({ clientSecret: 'x' });
    expect(rotationBody('api_key', { ...none, secret: 'x' })).toEqual({ apiKey: 'x' });
    expect(rotationBody('private_key_jwt', { ...none, privateKey: PEM, secret: 'x' })).toEqual({ privateKey: PEM });
    expect(rotationBody('private_key_jwt', { ...none, privateKey: PEM, keyId: 'k2' })).toEqual({
      privateKey: PEM,
      keyId: 'k2',
    });
    expect(rotationBody('tls_client_auth', { ...none, privateKey: PEM, clientCertificate: CERT })).toEqual({
      clientCertificate: CERT,
      privateKey: PEM,
    });
  });

  it('says what is missing instead of sending an empty body', () => {
    expect(rotationBody('secret', none)).toMatch(/secret/);
    expect(rotationBody('tls_client_auth', { ...none, privateKey: PEM })).toMatch(/certificate/);
    expect(rotationBody('private_key_jwt', none)).toMatch(/private key/);
  });
});
