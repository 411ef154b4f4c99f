import { constants, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { SigningAlg } from '../store/store.types';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SPEC: `exp` at most 60 s after `iat`. */
export const ASSERTION_LIFETIME_SECONDS = 60;

export interface AssertionInput {
  clientId: string;
  /** The token URL: RFC 7523 section 3 and OpenID Connect Core section 9 name it as an audience. */
  audience: string;
  privateKey: KeyObject;
  keyId: string | null;
  alg: SigningAlg;
}

/**
 * A client assertion (RFC 7523 section 2.2): a compact JWS, signed with the
 * client's key, with a fresh random `jti` on every call, so a retry never
 * sends one the server has seen (servers refuse a replayed jti).
 */
export function signClientAssertion(input: AssertionInput, now: number = Date.now()): string {
  const iat = Math.floor(now / 1_000);
  const header = { alg: input.alg, typ: 'JWT', ...(input.keyId !== null && { kid: input.keyId }) };
  const claims = {
    iss: input.clientId,
    sub: input.clientId,
    aud: input.audience,
    jti: randomUUID(),
    iat,
    exp: iat + ASSERTION_LIFETIME_SECONDS,
  };
  const signingInput = `${base64url(header)}.${base64url(claims)}`;
  return `${signingInput}.${signature(signingInput, input.privateKey, input.alg).toString('base64url')}`;
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function signature(signingInput: string, key: KeyObject, alg: SigningAlg): Buffer {
  const data = Buffer.from(signingInput, 'ascii');
  switch (alg) {
    case 'RS256':
      return sign('sha256', data, key);
    case 'PS256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      // JWS wants the raw r || s form (RFC 7518 section 3.4), not DER.
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return sign(null, data, key);
  }
}
