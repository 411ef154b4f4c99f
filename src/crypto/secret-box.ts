import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { EncryptionKey } from '../config/config';
import { randomBytesPooled } from './random-pool';

const FORMAT = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;

export class SealedValueError extends Error {
  constructor(reason: string) {
    super(`sealed value refused: ${reason}`);
    this.name = 'SealedValueError';
  }
}

/**
 * AES-256-GCM with a key ring: the first key seals, every key opens.
 * A sealed value reads `v1.<kid>.<iv>.<tag>.<ciphertext>` (base64url), so it
 * records which key sealed it. The context (for example `client:<id>:secret`)
 * is authenticated data: a value copied to another record or field does not open.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly primary: EncryptionKey;

  constructor(keys: EncryptionKey[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    this.primary = keys[0];
    this.keys = new Map(keys.map((k) => [k.kid, k.key]));
  }

  get primaryKeyId(): string {
    return this.primary.kid;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytesPooled(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.primary.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      FORMAT,
      this.primary.kid,
      iv.toString('base64url'),
      tag.toString('base64url'),
      ciphertext.toString('base64url'),
    ].join('.');
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== FORMAT) throw new SealedValueError('unknown format');
    const [, kid, iv, tag, ciphertext] = parts;
    const key = this.keys.get(kid);
    if (!key) throw new SealedValueError(`sealed with key "${kid}", which is not in BROKER_ENCRYPTION_KEYS`);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedValueError("authentication failed (tampered, or another record's value)");
    }
  }

  /** The key id a sealed value names, without opening it. */
  static keyIdOf(sealed: string): string | null {
    const parts = sealed.split('.');
    return parts.length === 5 && parts[0] === FORMAT ? parts[1] : null;
  }
}

export const secretContext = (clientId: string): string => `client:${clientId}:secret`;
/** A webhook's signing secret is bound to its webhook. */
export const webhookSecretContext = (webhookId: string): string => `webhook:${webhookId}:secret`;
/**
 * A token is bound to its client, the generation it was obtained with and its
 * expiry: a superseded sealed token copied back into a client's record with a
 * later `expiresAt` (or under a later generation) no longer opens, so it can
 * never be served beyond the life the upstream gave it.
 */
export const tokenContext = (clientId: string, token: { generation: number; expiresAt: number }): string =>
  `client:${clientId}:token:g${token.generation}:e${token.expiresAt}`;
/** A private_key_jwt or tls_client_auth client's private key: a context of its own, so it never opens as a secret. */
export const privateKeyContext = (clientId: string): string => `client:${clientId}:private_key`;
export const certificateContext = (clientId: string): string => `client:${clientId}:certificate`;
