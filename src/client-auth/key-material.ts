import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { SigningAlg } from '../store/store.types';

/**
 * Reading and checking the key material of private_key_jwt and
 * tls_client_auth clients. Pure: no I/O, and no message quotes the material.
 */

export type KeyKind = 'rsa' | 'ec-p256' | 'ed25519';

export interface PrivateKeyReading {
  key: KeyObject;
  kind: KeyKind;
}

const MIN_RSA_BITS = 2048;
const PKCS8 = /^-----BEGIN PRIVATE KEY-----\r?\n[\s\S]+\r?\n-----END PRIVATE KEY-----\s*$/;
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]+?\r?\n-----END CERTIFICATE-----/g;
const KIND_NAMES: Record<KeyKind, string> = { rsa: 'an RSA', 'ec-p256': 'a P-256 EC', ed25519: 'an Ed25519' };
const ALGS_BY_KIND: Record<KeyKind, SigningAlg[]> = {
  rsa: ['RS256', 'PS256'],
  'ec-p256': ['ES256'],
  ed25519: ['EdDSA'],
};

/** The PKCS#8 PEM private key, or what a person must do to send one that works. */
export function readPrivateKey(pem: string): PrivateKeyReading | { problem: string } {
  const text = pem.trim();
  if (text.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    return {
      problem: 'must not be encrypted: send the PKCS#8 key without a passphrase (openssl pkcs8 -topk8 -nocrypt)',
    };
  }
  if (/^-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(text)) {
    return { problem: 'must be PKCS#8 ("BEGIN PRIVATE KEY"): convert it with openssl pkcs8 -topk8 -nocrypt' };
  }
  if (!PKCS8.test(text)) return { problem: 'must be a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----" ...)' };
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    return { problem: 'is not a PEM private key that can be read (damaged or not a key)' };
  }
  const kind = kindOf(key);
  if (kind === null) return { problem: 'must be an RSA (2048 bits or more), P-256 EC or Ed25519 key' };
  return { key, kind };
}

function kindOf(key: KeyObject): KeyKind | null {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return (details.modulusLength ?? 0) >= MIN_RSA_BITS ? 'rsa' : null;
  if (key.asymmetricKeyType === 'ec') return details.namedCurve === 'prime256v1' ? 'ec-p256' : null;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  return null;
}

/** The algorithm for this key: the one asked for when the key can sign with it, else the key's own. */
export function signingAlgFor(kind: KeyKind, asked: SigningAlg | undefined): { alg: SigningAlg } | { problem: string } {
  const allowed = ALGS_BY_KIND[kind];
  if (asked === undefined) return { alg: allowed[0] };
  if (allowed.includes(asked)) return { alg: asked };
  return { problem: `${asked} does not fit the privateKey, ${KIND_NAMES[kind]} key: use ${allowed.join(' or ')}` };
}

/** The certificate and any chain after it, in PEM, or why it cannot be used. */
export function readCertificateChain(pem: string): { chain: X509Certificate[] } | { problem: string } {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  const rest = pem.replace(CERTIFICATE_BLOCK, '').trim();
  if (blocks.length === 0 || rest !== '') {
    return { problem: 'must be PEM certificates ("-----BEGIN CERTIFICATE-----" ...), the client\'s own first' };
  }
  try {
    return { chain: blocks.map((block) => new X509Certificate(block)) };
  } catch {
    return { problem: 'holds a PEM block that is not a readable X.509 certificate' };
  }
}

/** Why the client's certificate cannot be used with this key now, or null. */
export function certificateProblem(certificate: X509Certificate, key: KeyObject, now: number): string | null {
  if (!certificate.checkPrivateKey(key)) {
    return "the certificate's public key is not the privateKey's: send the certificate issued for this key";
  }
  const { validFrom, validTo } = validityOf(certificate);
  if (validTo <= now) return `the certificate expired on ${new Date(validTo).toISOString()}`;
  if (validFrom > now) return `the certificate is not valid before ${new Date(validFrom).toISOString()}`;
  return null;
}

export function validityOf(certificate: X509Certificate): { validFrom: number; validTo: number } {
  return { validFrom: Date.parse(certificate.validFrom), validTo: Date.parse(certificate.validTo) };
}

/** Members of a public JWK that RFC 7638 hashes, in its (lexicographic) order. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
};

/** The RFC 7638 JWK thumbprint (SHA-256, base64url) of the key's public half. */
export function jwkThumbprint(key: KeyObject): string {
  const publicKey = key.type === 'public' ? key : createPublicKey(key);
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const members = THUMBPRINT_MEMBERS[jwk.kty] ?? [];
  const canonical = `{${members.map((name) => `${JSON.stringify(name)}:${JSON.stringify(jwk[name])}`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** A key's secretHint: the last 4 characters of its thumbprint, which tell keys apart and say nothing of the key. */
export function keyHintOf(key: KeyObject): string {
  return jwkThumbprint(key).slice(-4);
}
