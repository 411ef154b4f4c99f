import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Length, Max, MaxLength, Min } from 'class-validator';
import {
  MAX_DEFAULT_EXPIRES_IN_SECONDS,
  MIN_DEFAULT_EXPIRES_IN_SECONDS,
  SIGNING_ALGS,
  TOKEN_ENDPOINT_AUTH_METHODS,
} from '../../client-auth/provider-settings';
import { Nullable } from '../../common/input-rules';
import type { SigningAlg, TokenEndpointAuthMethod, TokenRequestFormat } from '../../store/store.types';
import { TOKEN_REQUEST_FORMATS } from './create-client.dto';
import { AUTH_METHOD_PROBLEM, ExtraParams, SIGNING_ALG_PROBLEM } from './provider-settings.dto';

const EXPIRES_PROBLEM = `defaultExpiresInSeconds must be a whole number from ${MIN_DEFAULT_EXPIRES_IN_SECONDS} to ${MAX_DEFAULT_EXPIRES_IN_SECONDS}`;

export class UpdateClientDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  tokenUrl?: string;

  @ApiPropertyOptional({ nullable: true, description: 'null removes the scope' })
  @Nullable()
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  scope?: string | null;

  @ApiPropertyOptional({ enum: TOKEN_REQUEST_FORMATS })
  @IsOptional()
  @IsIn(TOKEN_REQUEST_FORMATS, { message: `tokenRequestFormat must be one of: ${TOKEN_REQUEST_FORMATS.join(', ')}` })
  tokenRequestFormat?: TokenRequestFormat;

  @ApiPropertyOptional({
    enum: TOKEN_ENDPOINT_AUTH_METHODS,
    description: 'Only to a method whose material the client holds',
  })
  @IsOptional()
  @IsIn(TOKEN_ENDPOINT_AUTH_METHODS, { message: AUTH_METHOD_PROBLEM })
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;

  @ApiPropertyOptional({ nullable: true, description: 'private_key_jwt: the assertion header `kid`; null removes it' })
  @Nullable()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  keyId?: string | null;

  @ApiPropertyOptional({
    enum: SIGNING_ALGS,
    nullable: true,
    description: "private_key_jwt; null: the key type's default",
  })
  @Nullable()
  @IsOptional()
  @IsIn(SIGNING_ALGS, { message: SIGNING_ALG_PROBLEM })
  signingAlg?: SigningAlg | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 512 },
    description: 'Replaces the extra parameters; {} removes them all',
    example: { resource: 'https://api.example.com' },
  })
  @IsOptional()
  @ExtraParams()
  extraParams?: Record<string, string>;

  @ApiPropertyOptional({ minimum: MIN_DEFAULT_EXPIRES_IN_SECONDS, maximum: MAX_DEFAULT_EXPIRES_IN_SECONDS })
  @IsOptional()
  @IsInt({ message: EXPIRES_PROBLEM })
  @Min(MIN_DEFAULT_EXPIRES_IN_SECONDS, { message: EXPIRES_PROBLEM })
  @Max(MAX_DEFAULT_EXPIRES_IN_SECONDS, { message: EXPIRES_PROBLEM })
  defaultExpiresInSeconds?: number;
}
