import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches, MaxLength, ValidateIf } from 'class-validator';
import { WORKSPACE_PATTERN } from '../../common/ids';
import type { ClientType, TokenRequestFormat } from '../../store/store.types';
import { ProviderSettingsDto } from './provider-settings.dto';

export const CLIENT_TYPES: ClientType[] = ['oauth_client_credentials', 'api_key'];
export const TOKEN_REQUEST_FORMATS: TokenRequestFormat[] = ['json', 'form'];
/**
 * An API key is sent as `Authorization: Bearer <key>`: only what a header carries unchanged works.
 * Node refuses header characters above U+00FF, and parsers trim or split at spaces.
 */
export const API_KEY_PATTERN = /^[\x21-\x7e\u00a1-\u00ff]+$/;
export const API_KEY_PROBLEM = 'apiKey is sent in an HTTP header: no spaces, and no characters beyond Latin-1';
const isOAuth = (dto: CreateClientDto) => dto.type === 'oauth_client_credentials';
const isApiKey = (dto: CreateClientDto) => dto.type === 'api_key';

export class CreateClientDto extends ProviderSettingsDto {
  @ApiProperty({ example: 'o_abc123' })
  @Matches(WORKSPACE_PATTERN, { message: 'workspaceId must be 1-64 characters of A-Z, a-z, 0-9, _ and -' })
  workspaceId!: string;

  @ApiProperty({ example: 'Acme production' })
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiProperty({ enum: CLIENT_TYPES })
  @IsIn(CLIENT_TYPES, { message: `type must be one of: ${CLIENT_TYPES.join(', ')}` })
  type!: ClientType;

  @ApiPropertyOptional({ description: 'OAuth client id; required for oauth_client_credentials' })
  @ValidateIf((dto: CreateClientDto) => isOAuth(dto) || dto.clientId !== undefined)
  @IsString({ message: 'clientId is required for oauth_client_credentials clients, as a string' })
  @Length(1, 256)
  clientId?: string;

  @ApiPropertyOptional({
    description: 'OAuth client secret; required for client_secret_post and client_secret_basic; never returned',
  })
  @IsOptional()
  @IsString({ message: 'clientSecret must be a string' })
  @Length(1, 4096)
  clientSecret?: string;

  @ApiPropertyOptional({ description: 'Pipedream user API key; required for api_key; never returned' })
  @ValidateIf((dto: CreateClientDto) => isApiKey(dto) || dto.apiKey !== undefined)
  @IsString({ message: 'apiKey is required for api_key clients, as a string' })
  @Matches(API_KEY_PATTERN, { message: API_KEY_PROBLEM })
  @Length(1, 4096)
  apiKey?: string;

  @ApiPropertyOptional({ description: 'Defaults to DEFAULT_TOKEN_URL; its host must be in TOKEN_URL_ALLOWLIST' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  tokenUrl?: string;

  @ApiPropertyOptional({ example: '*' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  scope?: string;

  @ApiPropertyOptional({ enum: TOKEN_REQUEST_FORMATS, default: 'json' })
  @IsOptional()
  @IsIn(TOKEN_REQUEST_FORMATS, { message: `tokenRequestFormat must be one of: ${TOKEN_REQUEST_FORMATS.join(', ')}` })
  tokenRequestFormat?: TokenRequestFormat;
}
