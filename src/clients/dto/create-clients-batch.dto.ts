import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject } from 'class-validator';
import { ValidatedPerItem } from '../../common/input-rules';
import { CreateClientDto } from './create-client.dto';

export const BATCH_MAX_ITEMS = 1000;
/** 1000 items with PEM keys fit; every other route keeps the global limit (BODY_LIMIT_BYTES). */
export const BATCH_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Only the envelope is checked here: each item is validated on its own by
 * ClientsBatchService, so one bad item does not refuse the others.
 */
export class CreateClientsBatchDto {
  @ApiProperty({ type: [CreateClientDto], minItems: 1, maxItems: BATCH_MAX_ITEMS })
  @IsArray({ message: `items must be an array of 1 to ${BATCH_MAX_ITEMS} client bodies` })
  @ArrayMinSize(1, { message: 'items must hold at least 1 client body' })
  @ArrayMaxSize(BATCH_MAX_ITEMS, { message: `items must hold at most ${BATCH_MAX_ITEMS} client bodies` })
  @IsObject({ each: true, message: 'each of items must be a JSON object (a POST /v1/clients body)' })
  @ValidatedPerItem()
  items!: Record<string, unknown>[];
}
