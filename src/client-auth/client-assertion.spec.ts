import { createPublicKey, generateKeyPairSync, verify, constants, type KeyObject } from 'node:crypto';
import type { SigningAlg } from '../store/store.types';
import { ASSERTION_LIFETIME_SECONDS, signClientAssertion } from './client-assertion';

const decode = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function verifies(jwt: string, key: KeyObject, alg: SigningAlg): boolean {
  const [header, payload, signature] = jwt.split('.');
  const data = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  const publicKey = createPublicKey(key);
  if (alg === 'EdDSA') return verify(null, data, publicKey, sig);
  if (alg === 'ES256') return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  if (alg === 'PS256')
    return verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  return verify('sha256', data, publicKey, sig);
}

describe('client assertion (RFC 7523)', () => {
  const keys: Record<SigningAlg, KeyObject> = {
    RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    PS256: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    EdDSA: generateKeyPairSync('ed25519').privateKey,
  };

  it.each(Object.keys(keys) as SigningAlg[])(
    '%s: the claims SPEC names, signed so the public key verifies it',
    (alg) => {
      const now = 1_800_000_000_123;
      const jwt = signClientAssertion(
        { clientId: 'svc-1', audience: 'https://idp.example/token', privateKey: keys[alg], keyId: 'k-2026', alg },
        now,
      );
      const [header, payload] = jwt.split('.');
      expect(decode(header)).toEqual({ alg, typ: 'JWT', kid: 'k-2026' });
      expect(decode(payload)).toEqual({
        iss: 'svc-1',
        sub: 'svc-1',
        aud: 'https://idp.example/token',
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        iat: 1_800_000_000,
        exp: 1_800_000_000 + ASSERTION_LIFETIME_SECONDS,
      });
      expect(ASSERTION_LIFETIME_SECONDS).toBeLessThanOrEqual(60);
      expect(verifies(jwt, keys[alg], alg)).toBe(true);
    },
  );

  it('has no kid without a keyId, and a fresh jti every time', () => {
    const input = {
      clientId: 'svc',
      audience: 'https://idp.example/token',
      privateKey: keys.EdDSA,
      keyId: null,
      alg: 'EdDSA' as const,
    };
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i += 1) {
      const [header, payload] = signClientAssertion(input, 1_800_000_000_000).split('.');
      expect(decode(header)).toEqual({ alg: 'EdDSA', typ: 'JWT' });
      jtis.add(decode(payload).jti);
    }
    expect(jtis.size).toBe(50);
  });
});
