import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { ID_PATTERN } from '../../common/ids';
import { PageQueryDto } from '../../common/page-query';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'nextCursor from the previous page' })
  @IsOptional()
  @Matches(/^\d{1,15}-\d{1,10}$/, { message: 'cursor must be a nextCursor value from a previous page' })
  declare cursor?: string;

  @ApiPropertyOptional({ example: 'cl_4f1c9a0b2d3e4f5a6b7c8d9e' })
  @IsOptional()
  @Matches(ID_PATTERN, { message: 'clientId must be 1-64 characters of A-Z, a-z, 0-9, _ and -' })
  clientId?: string;
}
