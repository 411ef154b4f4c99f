import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, CurrentPrincipal } from '../auth/access.decorator';
import type { Principal } from '../auth/principal';
import { ClientsBatchService } from './clients-batch.service';
import { BATCH_MAX_ITEMS, CreateClientsBatchDto } from './dto/create-clients-batch.dto';

export const BATCH_ROUTE = '/v1/clients/batch';

@ApiTags('clients')
@ApiBearerAuth()
@Access('admin')
@Controller('v1/clients/batch')
export class ClientsBatchController {
  constructor(private readonly batch: ClientsBatchService) {}

  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: `Registers 1 to ${BATCH_MAX_ITEMS} clients, each on its own`,
    description: 'One { index, status, client?, error? } per item, in order; bodies up to 4 MB.',
  })
  create(@Body() dto: CreateClientsBatchDto, @CurrentPrincipal() actor: Principal) {
    return this.batch.create(dto.items, actor);
  }
}
