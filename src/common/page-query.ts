import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { ID_PATTERN, WORKSPACE_PATTERN } from './ids';

/** The query of a cursor-paged list. `cursor` is the last id of the previous page. */
export class CursorQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number from 1 to 500' })
  @Min(1, { message: 'limit must be a whole number from 1 to 500' })
  @Max(500, { message: 'limit must be a whole number from 1 to 500' })
  limit: number = 50;

  @ApiPropertyOptional({ description: 'nextCursor from the previous page' })
  @IsOptional()
  @Matches(ID_PATTERN, { message: 'cursor must be a nextCursor value from a previous page' })
  cursor?: string;
}

/** A cursor-paged list that can be narrowed to one workspace. */
export class PageQueryDto extends CursorQueryDto {
  @ApiPropertyOptional({ example: 'o_abc123' })
  @IsOptional()
  @Matches(WORKSPACE_PATTERN, { message: 'workspaceId must be 1-64 characters of A-Z, a-z, 0-9, _ and -' })
  workspaceId?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Asks the store for one more than the limit, so a full last page is not followed by an empty one. */
export function toPage<T>(fetched: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  const items = fetched.slice(0, limit);
  return { items, nextCursor: fetched.length > limit ? cursorOf(items[items.length - 1]) : null };
}
