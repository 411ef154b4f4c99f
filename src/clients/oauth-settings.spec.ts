import { generateKeyPairSync } from 'node:crypto';
import { extraParamsProblems, authMethodOf } from '../client-auth/provider-settings';
import type { FieldProblem } from '../common/broker-error';
import type { OAuthClientRecord } from '../store/store.types';
import { checkMaterial, checkRotation, methodAndFormat, patchedSettings } from './oauth-settings';

const ecPem = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsaPem = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function record(overrides: Partial<OAuthClientRecord> = {}): OAuthClientRecord {
  return {
    id: 'cl_1',
    workspaceId: 'o_1',
    name: 'n',
    type: 'oauth_client_credentials',
    clientId: 'c',
    tokenUrl: 'https://idp/token',
    scope: null,
    tokenRequestFormat: 'json',
    secretHint: '',
    sealedSecret: 'v1.k.x.y.z',
    generation: 1,
    createdAt: '',
    updatedAt: '',
    ...overrides,
  };
}

describe('provider settings rules', () => {
  it('defaults: json is client_secret_post, form client_secret_basic, a key method the form; json goes with post only', () => {
    const problems: FieldProblem[] = [];
    expect(methodAndFormat({}, problems)).toEqual({ method: 'client_secret_post', format: 'json' });
    expect(methodAndFormat({ tokenRequestFormat: 'form' }, problems)).toEqual({
      method: 'client_secret_basic',
      format: 'form',
    });
    expect(methodAndFormat({ tokenEndpointAuthMethod: 'private_key_jwt' }, problems)).toEqual({
      method: 'private_key_jwt',
      format: 'form',
    });
    expect(
      methodAndFormat({ tokenEndpointAuthMethod: 'client_secret_post', tokenRequestFormat: 'form' }, problems),
    ).toEqual({ method: 'client_secret_post', format: 'form' });
    expect(problems).toEqual([]);
    methodAndFormat({ tokenEndpointAuthMethod: 'client_secret_basic', tokenRequestFormat: 'json' }, problems);
    expect(problems).toEqual([
      {
        field: 'tokenEndpointAuthMethod',
        problems: [expect.stringContaining('json goes with client_secret_post only')],
      },
    ]);
  });

  it('a record stored before the methods existed keeps its behaviour: json posts the secret, form sends it in Basic', () => {
    expect(authMethodOf(record({ tokenRequestFormat: 'json' }))).toBe('client_secret_post');
    expect(authMethodOf(record({ tokenRequestFormat: 'form' }))).toBe('client_secret_basic');
  });

  it('each method takes its own material, and names every field that is missing or not used', () => {
    const now = Date.now();
    const problems: FieldProblem[] = [];
    expect(checkMaterial('client_secret_basic', { clientSecret: 'abcdefgh1234' }, problems, now)).toMatchObject({
      secretHint: '1234',
      material: { kind: 'secret' },
    });
    expect(checkMaterial('private_key_jwt', { privateKey: ecPem(), keyId: 'k1' }, problems, now)).toMatchObject({
      signingAlg: 'ES256',
      keyId: 'k1',
      secretHint: expect.stringMatching(/^.{4}$/),
    });
    expect(problems).toEqual([]);
    expect(checkMaterial('private_key_jwt', { clientSecret: 's', clientCertificate: 'c' }, problems, now)).toBeNull();
    expect(problems.map((p) => p.field)).toEqual(['clientSecret', 'privateKey', 'clientCertificate']);
    problems.length = 0;
    expect(checkMaterial('tls_client_auth', { privateKey: ecPem(), keyId: 'k' }, problems, now)).toBeNull();
    expect(problems).toEqual([
      { field: 'clientCertificate', problems: ['clientCertificate is required for tls_client_auth clients'] },
      { field: 'keyId', problems: ['keyId is not used by tls_client_auth clients'] },
    ]);
  });

  it('400 details name the field: a PEM that does not parse, a key type that does not match signingAlg', () => {
    const problems: FieldProblem[] = [];
    checkMaterial(
      'private_key_jwt',
      { privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' },
      problems,
      Date.now(),
    );
    checkMaterial('private_key_jwt', { privateKey: ecPem(), signingAlg: 'RS256' }, problems, Date.now());
    expect(problems).toEqual([
      {
        field: 'privateKey',
        problems: ['privateKey is not a PEM private key that can be read (damaged or not a key)'],
      },
      { field: 'signingAlg', problems: ['RS256 does not fit the privateKey, a P-256 EC key: use ES256'] },
    ]);
  });

  it('a rotated key keeps the stored signingAlg when it can sign with it, else takes its own', () => {
    const problems: FieldProblem[] = [];
    const jwtClient = record({
      tokenEndpointAuthMethod: 'private_key_jwt',
      tokenRequestFormat: 'form',
      signingAlg: 'PS256',
      sealedSecret: null,
    });
    expect(checkRotation(jwtClient, { privateKey: rsaPem() }, problems, Date.now())).toMatchObject({
      signingAlg: 'PS256',
      keyId: null,
    });
    expect(checkRotation(jwtClient, { privateKey: ecPem(), keyId: 'k2' }, problems, Date.now())).toMatchObject({
      signingAlg: 'ES256',
      keyId: 'k2',
    });
    expect(problems).toEqual([]);
    expect(checkRotation(jwtClient, { clientSecret: 'x' }, problems, Date.now())).toBeNull();
    expect(problems.map((p) => p.field)).toEqual(['clientSecret', 'privateKey']);
  });

  it('extraParams: at most 10, names [A-Za-z0-9_.-]{1,64}, values up to 512 characters, none of the names the broker sets', () => {
    expect(extraParamsProblems({ audience: 'https://api', 'x.y-z_1': 'v' })).toEqual([]);
    expect(extraParamsProblems(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`p${i}`, 'v'])))).toEqual([
      'at most 10 parameters, got 11',
    ]);
    expect(extraParamsProblems({ 'bad name': 'v' })).toEqual([
      'parameter names must be 1-64 characters of A-Z, a-z, 0-9, _, . and -',
    ]);
    expect(extraParamsProblems({ ['a'.repeat(65)]: 'v' })).toHaveLength(1);
    expect(extraParamsProblems({ audience: 'v'.repeat(513) })).toEqual([
      'the value of "audience" must be at most 512 characters',
    ]);
    expect(extraParamsProblems({ audience: 5 })).toEqual(['the value of "audience" must be a string']);
    for (const reserved of [
      'grant_type',
      'client_id',
      'client_secret',
      'scope',
      'client_assertion',
      'client_assertion_type',
    ]) {
      expect(extraParamsProblems({ [reserved]: 'v' })).toEqual([
        `"${reserved}" is set by the broker itself and cannot be an extra parameter`,
      ]);
    }
  });

  it('PATCH: a method the held material serves, never json with a method other than post; a certificate does not outlive mutual TLS', () => {
    const problems: FieldProblem[] = [];
    const formClient = record({ tokenRequestFormat: 'form' });
    expect(patchedSettings(formClient, { tokenEndpointAuthMethod: 'client_secret_post' }, problems)).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    expect(problems).toEqual([]);
    patchedSettings(formClient, { tokenEndpointAuthMethod: 'private_key_jwt' }, problems);
    expect(problems).toEqual([
      {
        field: 'tokenEndpointAuthMethod',
        problems: ['private_key_jwt needs privateKey, which this client does not hold: register a new client'],
      },
    ]);
    problems.length = 0;
    patchedSettings(formClient, { tokenRequestFormat: 'json' }, problems);
    expect(problems.map((p) => p.field)).toEqual(['tokenRequestFormat']);
    problems.length = 0;
    const tls = record({
      tokenEndpointAuthMethod: 'tls_client_auth',
      tokenRequestFormat: 'form',
      sealedSecret: null,
      sealedPrivateKey: 'k',
      sealedCertificate: 'c',
      certificateExpiresAt: '2030-01-01T00:00:00.000Z',
    });
    expect(patchedSettings(tls, { tokenEndpointAuthMethod: 'private_key_jwt', keyId: 'k1' }, problems)).toMatchObject({
      sealedCertificate: null,
      certificateExpiresAt: null,
      keyId: 'k1',
    });
    expect(problems).toEqual([]);
    patchedSettings(tls, { keyId: 'k1' }, problems);
    expect(problems.map((p) => p.field)).toEqual(['keyId']);
  });
});
