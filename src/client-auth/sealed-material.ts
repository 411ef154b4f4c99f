import { SecretBox, certificateContext, privateKeyContext, secretContext } from '../crypto/secret-box';
import type { ClientRecord } from '../store/store.types';
import { authMethodOf } from './provider-settings';

/**
 * What a client proves itself with, decrypted: a shared secret (or an API
 * key), a private key, or a private key with its certificate. Held only in
 * memory, for the request that needs it.
 */
export type ClientMaterial =
  | { kind: 'secret'; secret: string }
  | { kind: 'private_key'; privateKey: string }
  | { kind: 'certificate'; privateKey: string; certificate: string };

/** The record's sealed fields for this material; the fields of the other kinds are null. */
export interface SealedMaterial {
  sealedSecret: string | null;
  sealedPrivateKey: string | null;
  sealedCertificate: string | null;
}

export type SealedField = keyof SealedMaterial;

/** Each sealed field with the context it is sealed under, so a value copied to another field or client never opens. */
const CONTEXTS: Record<SealedField, (clientId: string) => string> = {
  sealedSecret: secretContext,
  sealedPrivateKey: privateKeyContext,
  sealedCertificate: certificateContext,
};

export function sealMaterial(box: SecretBox, clientId: string, material: ClientMaterial): SealedMaterial {
  const seal = (field: SealedField, value: string): string => box.seal(value, CONTEXTS[field](clientId));
  return {
    sealedSecret: material.kind === 'secret' ? seal('sealedSecret', material.secret) : null,
    sealedPrivateKey: material.kind === 'secret' ? null : seal('sealedPrivateKey', material.privateKey),
    sealedCertificate: material.kind === 'certificate' ? seal('sealedCertificate', material.certificate) : null,
  };
}

/** The material the client's method uses, decrypted; throws SealedValueError when a field does not open (or is missing). */
export function openMaterial(box: SecretBox, client: ClientRecord): ClientMaterial {
  const open = (field: SealedField): string => {
    const sealed = sealedValue(client, field);
    // An empty value never opens: SecretBox refuses it as a value of unknown format.
    return box.open(sealed ?? '', CONTEXTS[field](client.id));
  };
  const method = client.type === 'api_key' ? null : authMethodOf(client);
  if (method === 'tls_client_auth') {
    return { kind: 'certificate', privateKey: open('sealedPrivateKey'), certificate: open('sealedCertificate') };
  }
  if (method === 'private_key_jwt') return { kind: 'private_key', privateKey: open('sealedPrivateKey') };
  return { kind: 'secret', secret: open('sealedSecret') };
}

/** The sealed fields the record holds, for re-encryption. */
export function sealedFieldsOf(client: ClientRecord): SealedField[] {
  return (Object.keys(CONTEXTS) as SealedField[]).filter((field) => typeof sealedValue(client, field) === 'string');
}

/** The record with each sealed field opened and sealed again under the box's first key. */
export function resealed<T extends ClientRecord>(box: SecretBox, client: T): T {
  const copy: Record<string, unknown> = { ...client };
  for (const field of sealedFieldsOf(client)) {
    const context = CONTEXTS[field](client.id);
    copy[field] = box.seal(box.open(sealedValue(client, field) ?? '', context), context);
  }
  return copy as T;
}

export function sealedValue(client: ClientRecord, field: SealedField): string | null {
  if (field === 'sealedSecret') return client.sealedSecret;
  if (client.type === 'api_key') return null;
  return client[field] ?? null;
}
