import {
  certificateProblem,
  keyHintOf,
  readCertificateChain,
  readPrivateKey,
  signingAlgFor,
  validityOf,
} from '../client-auth/key-material';
import { authMethodOf, defaultAuthMethod, isKeyMethod } from '../client-auth/provider-settings';
import type { ClientMaterial } from '../client-auth/sealed-material';
import type { FieldProblem } from '../common/broker-error';
import type { OAuthClientRecord, SigningAlg, TokenEndpointAuthMethod, TokenRequestFormat } from '../store/store.types';
import { secretHintOf } from './client-view';
import type { UpdateClientDto } from './dto/update-client.dto';

/**
 * The rules of SPEC "Provider settings and client authentication" for
 * registration, update and rotation: which method and format a client has,
 * whether the material it sent fits that method, and the record fields that
 * follow. Pure; every problem names its field and never quotes the material.
 */

/** What a request may carry of a client's secret material. */
export interface MaterialInput {
  clientSecret?: string;
  privateKey?: string;
  clientCertificate?: string;
  keyId?: string;
  signingAlg?: SigningAlg;
}

/** Material that fits its method, with the record fields it decides. */
export interface CheckedMaterial {
  material: ClientMaterial;
  secretHint: string;
  keyId: string | null;
  signingAlg: SigningAlg | null;
  certificateExpiresAt: string | null;
}

const SECRET_FIELDS = ['clientSecret', 'privateKey', 'clientCertificate', 'keyId', 'signingAlg'] as const;
type MaterialField = (typeof SECRET_FIELDS)[number];
const FIELDS_OF: Record<TokenEndpointAuthMethod, { required: MaterialField[]; optional: MaterialField[] }> = {
  client_secret_post: { required: ['clientSecret'], optional: [] },
  client_secret_basic: { required: ['clientSecret'], optional: [] },
  private_key_jwt: { required: ['privateKey'], optional: ['keyId', 'signingAlg'] },
  tls_client_auth: { required: ['clientCertificate', 'privateKey'], optional: [] },
};

/**
 * The method and format of a new client. Either may be left out: the method
 * follows from the format (json: post, form: basic), and the format from the
 * method (post: json, the others: form). JSON goes with client_secret_post only.
 */
export function methodAndFormat(
  asked: { tokenEndpointAuthMethod?: TokenEndpointAuthMethod; tokenRequestFormat?: TokenRequestFormat },
  problems: FieldProblem[],
): { method: TokenEndpointAuthMethod; format: TokenRequestFormat } {
  const format =
    asked.tokenRequestFormat ??
    (asked.tokenEndpointAuthMethod && asked.tokenEndpointAuthMethod !== 'client_secret_post' ? 'form' : 'json');
  const method = asked.tokenEndpointAuthMethod ?? defaultAuthMethod(format);
  const problem = formatProblem(method, format);
  if (problem) problems.push({ field: 'tokenEndpointAuthMethod', problems: [problem] });
  return { method, format };
}

function formatProblem(method: TokenEndpointAuthMethod, format: TokenRequestFormat): string | null {
  if (format !== 'json' || method === 'client_secret_post') return null;
  return `${method} sends the RFC 6749 form: use tokenRequestFormat form (json goes with client_secret_post only)`;
}

/** The material sent for `method`, checked; null with the problems found. */
export function checkMaterial(
  method: TokenEndpointAuthMethod,
  input: MaterialInput,
  problems: FieldProblem[],
  now: number,
): CheckedMaterial | null {
  const before = problems.length;
  const { required, optional } = FIELDS_OF[method];
  for (const field of SECRET_FIELDS) {
    const present = input[field] !== undefined;
    if (!present && required.includes(field))
      problems.push({ field, problems: [`${field} is required for ${method} clients`] });
    if (present && !required.includes(field) && !optional.includes(field)) {
      problems.push({ field, problems: [`${field} is not used by ${method} clients`] });
    }
  }
  if (problems.length > before) return null;
  if (!isKeyMethod(method)) {
    const secret = input.clientSecret ?? '';
    return {
      material: { kind: 'secret', secret },
      secretHint: secretHintOf(secret),
      keyId: null,
      signingAlg: null,
      certificateExpiresAt: null,
    };
  }
  return checkKeyMaterial(method, input, problems, now);
}

function checkKeyMaterial(
  method: 'private_key_jwt' | 'tls_client_auth',
  input: MaterialInput,
  problems: FieldProblem[],
  now: number,
): CheckedMaterial | null {
  const privateKey = input.privateKey ?? '';
  const key = readPrivateKey(privateKey);
  if ('problem' in key) {
    problems.push({ field: 'privateKey', problems: [`privateKey ${key.problem}`] });
    return null;
  }
  const secretHint = keyHintOf(key.key);
  if (method === 'private_key_jwt') {
    const alg = signingAlgFor(key.kind, input.signingAlg);
    if ('problem' in alg) {
      problems.push({ field: 'signingAlg', problems: [alg.problem] });
      return null;
    }
    const material: ClientMaterial = { kind: 'private_key', privateKey };
    return { material, secretHint, keyId: input.keyId ?? null, signingAlg: alg.alg, certificateExpiresAt: null };
  }
  const certificate = input.clientCertificate ?? '';
  const chain = readCertificateChain(certificate);
  const problem =
    'problem' in chain ? `clientCertificate ${chain.problem}` : certificateProblem(chain.chain[0], key.key, now);
  if (problem !== null || 'problem' in chain) {
    problems.push({ field: 'clientCertificate', problems: [problem ?? 'clientCertificate cannot be read'] });
    return null;
  }
  const certificateExpiresAt = new Date(validityOf(chain.chain[0]).validTo).toISOString();
  return {
    material: { kind: 'certificate', privateKey, certificate },
    secretHint,
    keyId: null,
    signingAlg: null,
    certificateExpiresAt,
  };
}

/**
 * A rotation's material: the fields of the client's own method. A new key
 * keeps the stored signingAlg when it can sign with it, else takes its own
 * default; keyId is the one sent (none when left out: a new key is a new kid).
 */
export function checkRotation(
  client: OAuthClientRecord,
  input: MaterialInput,
  problems: FieldProblem[],
  now: number,
): CheckedMaterial | null {
  const method = authMethodOf(client);
  if (input.signingAlg !== undefined)
    problems.push({ field: 'signingAlg', problems: ['signingAlg is changed with PATCH, not with a rotation'] });
  const checked = checkMaterial(method, input, problems, now);
  if (checked === null || method !== 'private_key_jwt' || !client.signingAlg)
    return problems.length > 0 ? null : checked;
  const kept = checkMaterial(method, { ...input, signingAlg: client.signingAlg }, [], now);
  return kept ?? checked;
}

/** The provider settings a PATCH changes, applied to the record; problems for what cannot change that way. */
export function patchedSettings(
  client: OAuthClientRecord,
  dto: UpdateClientDto,
  problems: FieldProblem[],
): OAuthClientRecord {
  const format = dto.tokenRequestFormat ?? client.tokenRequestFormat;
  const method = dto.tokenEndpointAuthMethod ?? authMethodOf(client);
  const formatMismatch = formatProblem(method, format);
  if (formatMismatch)
    problems.push({
      field: dto.tokenEndpointAuthMethod ? 'tokenEndpointAuthMethod' : 'tokenRequestFormat',
      problems: [formatMismatch],
    });
  const held = heldMaterial(client);
  if (!FIELDS_OF[method].required.every((field) => held.includes(field))) {
    const missing = FIELDS_OF[method].required.filter((field) => !held.includes(field)).join(' and ');
    problems.push({
      field: 'tokenEndpointAuthMethod',
      problems: [`${method} needs ${missing}, which this client does not hold: register a new client`],
    });
  }
  const keyId = dto.keyId === undefined ? (client.keyId ?? null) : dto.keyId;
  const signingAlg = dto.signingAlg === undefined ? (client.signingAlg ?? null) : dto.signingAlg;
  if (method !== 'private_key_jwt') {
    if (dto.keyId) problems.push({ field: 'keyId', problems: [`keyId is not used by ${method} clients`] });
    if (dto.signingAlg)
      problems.push({ field: 'signingAlg', problems: [`signingAlg is not used by ${method} clients`] });
  } else if (dto.signingAlg && client.signingAlg && algFamily(dto.signingAlg) !== algFamily(client.signingAlg)) {
    problems.push({
      field: 'signingAlg',
      problems: [`${dto.signingAlg} does not fit the client's key, which signs ${client.signingAlg}`],
    });
  }
  return {
    ...client,
    tokenRequestFormat: format,
    tokenEndpointAuthMethod: method,
    keyId: method === 'private_key_jwt' ? keyId : null,
    signingAlg: method === 'private_key_jwt' ? signingAlg : null,
    extraParams: dto.extraParams ?? client.extraParams ?? {},
    defaultExpiresInSeconds: dto.defaultExpiresInSeconds ?? client.defaultExpiresInSeconds,
    // A certificate outlives no change away from mutual TLS: it is no longer kept, nor its expiry shown.
    ...(method !== 'tls_client_auth' && { sealedCertificate: null, certificateExpiresAt: null }),
  };
}

/** Which material fields the record holds, by the names a request sends them under. */
function heldMaterial(client: OAuthClientRecord): MaterialField[] {
  const held: MaterialField[] = [];
  if (client.sealedSecret) held.push('clientSecret');
  if (client.sealedPrivateKey) held.push('privateKey');
  if (client.sealedCertificate) held.push('clientCertificate');
  return held;
}

/** RS256 and PS256 both sign with an RSA key; the others each have their own key type. */
function algFamily(alg: SigningAlg): string {
  return alg === 'PS256' ? 'RS256' : alg;
}
