import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';

export class ForceRefreshDto {
  @ApiPropertyOptional({
    description: 'The token the upstream refused; when it is no longer current, the current one comes back',
  })
  @IsOptional()
  @IsString()
  @Length(1, 8192)
  rejectedToken?: string;
}
