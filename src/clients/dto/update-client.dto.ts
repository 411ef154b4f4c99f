import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { Nullable } from '../../common/input-rules';
import type { TokenRequestFormat } from '../../store/store.types';
import { TOKEN_REQUEST_FORMATS } from './create-client.dto';

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
}
