import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, Length, Matches } from 'class-validator';
import { API_KEY_PATTERN, API_KEY_PROBLEM } from './create-client.dto';
import { KeyMaterialDto } from './provider-settings.dto';

/** The new material of the client's method: `clientSecret`, `apiKey`, `{ privateKey, keyId? }` or `{ clientCertificate, privateKey }`. */
export class RotateSecretDto extends KeyMaterialDto {
  @ApiPropertyOptional({ description: 'The new secret of an oauth_client_credentials client' })
  @IsOptional()
  @IsString()
  @Length(1, 4096)
  clientSecret?: string;

  @ApiPropertyOptional({ description: 'The new key of an api_key client' })
  @IsOptional()
  @IsString()
  @Matches(API_KEY_PATTERN, { message: API_KEY_PROBLEM })
  @Length(1, 4096)
  apiKey?: string;
}

export class RotateSecretQueryDto {
  @ApiPropertyOptional({ default: true, description: 'false skips obtaining a token with the new secret first' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'verify must be true or false' })
  verify: boolean = true;
}
