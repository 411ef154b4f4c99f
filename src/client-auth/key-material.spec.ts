import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  certificateProblem,
  jwkThumbprint,
  keyHintOf,
  readCertificateChain,
  readPrivateKey,
  signingAlgFor,
} from './key-material';

const pkcs8 = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('key material', () => {
  it('reads RSA, P-256 EC and Ed25519 PKCS#8 keys, and says what is wrong with anything else', () => {
    expect(readPrivateKey(pkcs8(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey))).toMatchObject({
      kind: 'rsa',
    });
    expect(readPrivateKey(pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey))).toMatchObject({
      kind: 'ec-p256',
    });
    expect(readPrivateKey(pkcs8(generateKeyPairSync('ed25519').privateKey))).toMatchObject({ kind: 'ed25519' });

    const p384 = pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
    expect(readPrivateKey(p384)).toEqual({ problem: 'must be an RSA (2048 bits or more), P-256 EC or Ed25519 key' });
    const rsa1024 = pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(readPrivateKey(rsa1024)).toEqual({ problem: 'must be an RSA (2048 bits or more), P-256 EC or Ed25519 key' });
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    expect(readPrivateKey(pkcs1)).toEqual({ problem: expect.stringContaining('must be PKCS#8') });
    const encrypted = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    expect(readPrivateKey(encrypted)).toEqual({ problem: expect.stringContaining('must not be encrypted') });
    expect(readPrivateKey('not a key')).toEqual({
      problem: expect.stringContaining('must be a PKCS#8 PEM private key'),
    });
    const damaged = pkcs8(generateKeyPairSync('ed25519').privateKey).replace(/\n[A-Za-z0-9+/]{4}/, '\n!!!!');
    expect(readPrivateKey(damaged)).toEqual({
      problem: 'is not a PEM private key that can be read (damaged or not a key)',
    });
    // A public key is not a private key.
    const publicPem = createPublicKey(generateKeyPairSync('ed25519').privateKey)
      .export({ type: 'spki', format: 'pem' })
      .toString();
    expect(readPrivateKey(publicPem)).toEqual({ problem: expect.stringContaining('PKCS#8') });
  });

  it('picks the algorithm by key type, takes PS256 for RSA, and refuses an algorithm the key cannot sign with', () => {
    expect(signingAlgFor('rsa', undefined)).toEqual({ alg: 'RS256' });
    expect(signingAlgFor('rsa', 'PS256')).toEqual({ alg: 'PS256' });
    expect(signingAlgFor('ec-p256', undefined)).toEqual({ alg: 'ES256' });
    expect(signingAlgFor('ed25519', undefined)).toEqual({ alg: 'EdDSA' });
    expect(signingAlgFor('ec-p256', 'RS256')).toEqual({
      problem: 'RS256 does not fit the privateKey, a P-256 EC key: use ES256',
    });
    expect(signingAlgFor('rsa', 'EdDSA')).toEqual({
      problem: 'EdDSA does not fit the privateKey, an RSA key: use RS256 or PS256',
    });
  });

  it("computes the RFC 7638 thumbprint (the RFC's own example), and a hint of its last 4 characters", () => {
    // RFC 7638 section 3.1.
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs' +
      'tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9' +
      '1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    const rfcKey = createPublicKey({ key: { kty: 'RSA', n, e: 'AQAB' }, format: 'jwk' });
    expect(jwkThumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    expect(keyHintOf(rfcKey)).toBe('C9Xs');
    const ed = generateKeyPairSync('ed25519').privateKey;
    expect(keyHintOf(ed)).toBe(jwkThumbprint(createPublicKey(ed)).slice(-4));
  });

  describe('certificates (made with openssl)', () => {
    let dir: string;
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const file = (name: string) => readFileSync(join(dir, name), 'utf8');
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tb-certs-'));
      openssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-subj',
        '/CN=test-ca',
        '-days',
        '2',
      );
      openssl(
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'client.key',
        '-out',
        'client.csr',
        '-subj',
        '/CN=client',
      );
      openssl(
        'x509',
        '-req',
        '-in',
        'client.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-out',
        'client.pem',
        '-days',
        '2',
      );
      openssl(
        'x509',
        '-req',
        '-in',
        'client.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-out',
        'expired.pem',
        '-days',
        '-1',
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads a certificate with its chain, and refuses text that is not PEM certificates', () => {
      const chain = readCertificateChain(`${file('client.pem')}${file('ca.pem')}`);
      expect('chain' in chain && chain.chain.map((certificate) => certificate.subject)).toEqual([
        'CN=client',
        'CN=test-ca',
      ]);
      expect(readCertificateChain(file('client.key'))).toEqual({
        problem: expect.stringContaining('must be PEM certificates'),
      });
      expect(readCertificateChain(`${file('client.pem')}trailing words`)).toEqual({
        problem: expect.stringContaining('must be PEM certificates'),
      });
      const broken = file('client.pem').replace(/\n[A-Za-z0-9+/]{8}/, '\nAAAAAAAA');
      expect(readCertificateChain(broken)).toEqual({
        problem: 'holds a PEM block that is not a readable X.509 certificate',
      });
    });

    it('refuses a certificate of another key, and an expired one', () => {
      const key = readPrivateKey(file('client.key'));
      const caKey = readPrivateKey(file('ca.key'));
      const leaf = readCertificateChain(file('client.pem'));
      const expired = readCertificateChain(file('expired.pem'));
      if ('problem' in key || 'problem' in caKey || 'problem' in leaf || 'problem' in expired)
        throw new Error('test material unreadable');
      expect(certificateProblem(leaf.chain[0], key.key, Date.now())).toBeNull();
      expect(certificateProblem(leaf.chain[0], caKey.key, Date.now())).toBe(
        "the certificate's public key is not the privateKey's: send the certificate issued for this key",
      );
      expect(certificateProblem(expired.chain[0], key.key, Date.now())).toMatch(/^the certificate expired on \d{4}-/);
    });
  });
});
