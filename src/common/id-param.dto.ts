import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { ID_PATTERN } from './ids';

export const ID_PROBLEM = 'id must be 1-64 characters of A-Z, a-z, 0-9, _ and -';

export class IdParamDto {
  @ApiProperty({ example: 'cl_4f1c9a0b2d3e4f5a6b7c8d9e' })
  @Matches(ID_PATTERN, { message: ID_PROBLEM })
  id!: string;
}
