import { Inject, Injectable } from '@nestjs/common';
import type { FieldProblem } from '../common/broker-error';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { SecretBox, secretContext } from '../crypto/secret-box';
import type { ClientRecord, TokenEndpointAuthMethod } from '../store/store.types';
import { authMethodOf, defaultExpiresInOf, extraParamsOf } from '../client-auth/provider-settings';
import { secretHintOf } from './client-view';
import type { RotateSecretDto } from './dto/rotate-secret.dto';
import type { UpdateClientDto } from './dto/update-client.dto';
import { checkRotation, patchedSettings } from './oauth-settings';
import { invalid, sealedRecordFields, TLS_NEEDS_HTTPS, tokenUrlOrProblem } from './new-client';

/**
 * Turns an update or a secret rotation body into the record to store:
 * checked (400 with every problem found), new material sealed. No I/O, as
 * NewClientFactory for registrations: ClientsService fences and writes it.
 */
@Injectable()
export class ClientEdits {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly box: SecretBox,
  ) {}

  /** The record with the changes asked for; throws 400 for changes this client's type does not have. */
  updated(client: ClientRecord, dto: UpdateClientDto): ClientRecord {
    const problems: FieldProblem[] = [];
    const updatedAt = new Date().toISOString();
    if (client.type === 'api_key') {
      for (const field of UPDATES_NOT_FOR_API_KEYS) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
      if (problems.length > 0) throw invalid(problems);
      return { ...client, name: dto.name ?? client.name, updatedAt };
    }
    const tokenUrl =
      dto.tokenUrl === undefined
        ? client.tokenUrl
        : tokenUrlOrProblem(dto.tokenUrl, this.config.tokenUrlAllowlist, problems);
    const settings = patchedSettings(client, dto, problems);
    if (authMethodOf(settings) === 'tls_client_auth' && tokenUrl?.startsWith('http:')) problems.push(TLS_NEEDS_HTTPS);
    if (problems.length > 0 || tokenUrl === null) throw invalid(problems);
    return {
      ...settings,
      name: dto.name ?? client.name,
      tokenUrl,
      scope: dto.scope === undefined ? client.scope : dto.scope,
      updatedAt,
    };
  }

  /** The record with the new material sealed in; 400 for material that does not fit the client's method. */
  rotatedMaterial(client: ClientRecord, dto: RotateSecretDto, now: number): ClientRecord {
    const problems: FieldProblem[] = [];
    if (client.type === 'api_key') {
      for (const field of ['clientSecret', 'privateKey', 'clientCertificate', 'keyId'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [API_KEY_ROTATION] });
      }
      if (dto.apiKey === undefined) problems.push({ field: 'apiKey', problems: [API_KEY_ROTATION] });
      if (problems.length > 0 || dto.apiKey === undefined) throw invalid(problems);
      const sealedSecret = this.box.seal(dto.apiKey, secretContext(client.id));
      return { ...client, secretHint: secretHintOf(dto.apiKey), sealedSecret };
    }
    if (dto.apiKey !== undefined) {
      const method = authMethodOf(client);
      throw invalid([
        { field: 'apiKey', problems: [`send ${ROTATION_MATERIAL[method]} to rotate a ${client.type} client`] },
      ]);
    }
    const checked = checkRotation(client, dto, problems, now);
    if (problems.length > 0 || checked === null) throw invalid(problems);
    return { ...client, ...sealedRecordFields(this.box, client.id, checked) };
  }
}

const API_KEY_ROTATION = 'send apiKey to rotate a api_key client';
/** What a rotation of each method sends. */
const ROTATION_MATERIAL: Record<TokenEndpointAuthMethod, string> = {
  client_secret_post: 'clientSecret',
  client_secret_basic: 'clientSecret',
  private_key_jwt: 'privateKey',
  tls_client_auth: 'clientCertificate and privateKey',
};
const UPDATES_NOT_FOR_API_KEYS = [
  'tokenUrl',
  'scope',
  'tokenRequestFormat',
  'tokenEndpointAuthMethod',
  'keyId',
  'signingAlg',
  'extraParams',
  'defaultExpiresInSeconds',
] as const;

/** Everything a token is obtained with, but the material (a rotation bumps the generation itself). */
export function tokenInputsOf(client: ClientRecord): unknown[] {
  if (client.type === 'api_key') return [];
  const { tokenUrl, scope, tokenRequestFormat, keyId, signingAlg } = client;
  return [
    tokenUrl,
    scope,
    tokenRequestFormat,
    authMethodOf(client),
    keyId ?? null,
    signingAlg ?? null,
    extraParamsOf(client),
    defaultExpiresInOf(client),
    client.sealedCertificate ?? null,
  ];
}
