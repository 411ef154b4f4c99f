import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateBy,
  type ValidationOptions,
} from 'class-validator';
import {
  extraParamsProblems,
  MAX_DEFAULT_EXPIRES_IN_SECONDS,
  MIN_DEFAULT_EXPIRES_IN_SECONDS,
  SIGNING_ALGS,
  TOKEN_ENDPOINT_AUTH_METHODS,
} from '../../client-auth/provider-settings';
import { MultilineSecret } from '../../common/input-rules';
import type { SigningAlg, TokenEndpointAuthMethod } from '../../store/store.types';

/** A PEM private key is a few KB; a certificate chain of four a little more. */
export const MAX_PRIVATE_KEY_LENGTH = 16_384;
export const MAX_CERTIFICATE_LENGTH = 32_768;

export const AUTH_METHOD_PROBLEM = `tokenEndpointAuthMethod must be one of: ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`;
export const SIGNING_ALG_PROBLEM = `signingAlg must be one of: ${SIGNING_ALGS.join(', ')}`;
const EXPIRES_PROBLEM = `defaultExpiresInSeconds must be a whole number from ${MIN_DEFAULT_EXPIRES_IN_SECONDS} to ${MAX_DEFAULT_EXPIRES_IN_SECONDS}`;

const NOT_AN_OBJECT = 'extraParams must be an object of parameter names to string values';

/** extraParams: an object of at most 10 names to strings, none a name the broker sets (provider-settings.ts has the rules). */
export function ExtraParams(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'extraParams',
      validator: {
        validate: (value: unknown) => isPlainObject(value) && extraParamsProblems(value).length === 0,
        defaultMessage: (args) =>
          isPlainObject(args?.value) ? extraParamsProblems(args.value).join('; ') : NOT_AN_OBJECT,
      },
    },
    options,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Example material for the OpenAPI document: shapes only, never a usable key. */
const PEM_KEY_EXAMPLE = '-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n';
const PEM_CERTIFICATE_EXAMPLE = '-----BEGIN CERTIFICATE-----\nMIIDdz...\n-----END CERTIFICATE-----\n';

/** The secret material of the key methods, as registration and rotation take it. */
export class KeyMaterialDto {
  @ApiPropertyOptional({
    description:
      'private_key_jwt and tls_client_auth: PKCS#8 PEM private key (RSA 2048+, P-256 EC or Ed25519); never returned',
    example: PEM_KEY_EXAMPLE,
    // Says the field is PEM text, whose line breaks the input rules let through.
    format: 'pem',
  })
  @MultilineSecret()
  @IsOptional()
  @IsString()
  @Length(1, MAX_PRIVATE_KEY_LENGTH)
  privateKey?: string;

  @ApiPropertyOptional({
    description: "tls_client_auth: PEM certificate, the client's own first, chain allowed; never returned",
    example: PEM_CERTIFICATE_EXAMPLE,
    format: 'pem',
  })
  @MultilineSecret()
  @IsOptional()
  @IsString()
  @Length(1, MAX_CERTIFICATE_LENGTH)
  clientCertificate?: string;

  @ApiPropertyOptional({ description: 'private_key_jwt: the `kid` of the assertion header' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  keyId?: string;
}

/** Provider settings of an OAuth client, as registration takes them (the update DTO has its own, nullable where it clears). */
export class ProviderSettingsDto extends KeyMaterialDto {
  @ApiPropertyOptional({
    enum: TOKEN_ENDPOINT_AUTH_METHODS,
    description: 'Default: client_secret_post with json, client_secret_basic with form',
  })
  @IsOptional()
  @IsIn(TOKEN_ENDPOINT_AUTH_METHODS, { message: AUTH_METHOD_PROBLEM })
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;

  @ApiPropertyOptional({
    enum: SIGNING_ALGS,
    description: 'private_key_jwt: default RS256, ES256 or EdDSA by key type; PS256 for RSA',
  })
  @IsOptional()
  @IsIn(SIGNING_ALGS, { message: SIGNING_ALG_PROBLEM })
  signingAlg?: SigningAlg;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 512 },
    description: 'At most 10, names [A-Za-z0-9_.-]{1,64}, values up to 512 characters, added to every token request',
    example: { audience: 'https://api.example.com' },
  })
  @IsOptional()
  @ExtraParams()
  extraParams?: Record<string, string>;

  @ApiPropertyOptional({
    minimum: MIN_DEFAULT_EXPIRES_IN_SECONDS,
    maximum: MAX_DEFAULT_EXPIRES_IN_SECONDS,
    default: 3600,
  })
  @IsOptional()
  @IsInt({ message: EXPIRES_PROBLEM })
  @Min(MIN_DEFAULT_EXPIRES_IN_SECONDS, { message: EXPIRES_PROBLEM })
  @Max(MAX_DEFAULT_EXPIRES_IN_SECONDS, { message: EXPIRES_PROBLEM })
  defaultExpiresInSeconds?: number;
}
