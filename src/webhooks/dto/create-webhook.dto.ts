import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { CLIENT_EVENT_TYPES } from '../../store/webhook.types';

export class CreateWebhookDto {
  @ApiProperty({
    example: 'https://hooks.example.com/token-broker',
    description: 'https, host in WEBHOOK_URL_ALLOWLIST',
  })
  @IsString()
  @Length(1, 2048)
  url!: string;

  @ApiProperty({
    example: ['client.failing', 'client.rejected', 'client.recovered'],
    description: 'Event types, or ["*"]',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @IsIn(['*', ...CLIENT_EVENT_TYPES], {
    each: true,
    message: `each event must be "*" or one of ${CLIENT_EVENT_TYPES.join(', ')}`,
  })
  events!: string[];

  @ApiPropertyOptional({
    example: ['o_abc123'],
    description: 'Workspace ids whose clients raise events, or ["*"] (default)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Matches(/^(\*|[A-Za-z0-9_-]{1,64})$/, {
    each: true,
    message: 'each workspace must be "*" or 1-64 characters of A-Z, a-z, 0-9, _ and -',
  })
  workspaces?: string[];
}
