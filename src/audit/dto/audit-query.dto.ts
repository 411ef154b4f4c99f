import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { ID_PATTERN } from '../../common/ids';
import { PageQueryDto } from '../../common/page-query';
import { IsAuditCursor } from './audit-cursor';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'nextCursor from the previous page' })
  @IsOptional()
  @IsAuditCursor()
  declare cursor?: string;

  @ApiPropertyOptional({ example: 'cl_4f1c9a0b2d3e4f5a6b7c8d9e' })
  @IsOptional()
  @Matches(ID_PATTERN, { message: 'clientId must be 1-64 characters of A-Z, a-z, 0-9, _ and -' })
  clientId?: string;
}
