import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Length, Matches } from 'class-validator';

export class CreateServiceKeyDto {
  @ApiProperty({ example: 'billing-service' })
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiProperty({ example: ['o_abc123'], description: 'Workspace ids this key may fetch tokens for, or ["*"] for all' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Matches(/^(\*|[A-Za-z0-9_-]{1,64})$/, {
    each: true,
    message: 'each workspace must be "*" or 1-64 characters of A-Z, a-z, 0-9, _ and -',
  })
  workspaces!: string[];
}
