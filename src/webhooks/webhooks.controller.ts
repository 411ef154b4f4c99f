import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Access, CurrentPrincipal } from '../auth/access.decorator';
import type { Principal } from '../auth/principal';
import { IdParamDto } from '../common/id-param.dto';
import { CursorQueryDto } from '../common/page-query';
import { CreateWebhookDto } from './dto/create-webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiBearerAuth()
@Access('admin')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  create(@Body() dto: CreateWebhookDto, @CurrentPrincipal() actor: Principal) {
    return this.webhooks.create(dto, actor);
  }

  @Get()
  list() {
    return this.webhooks.list();
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param() { id }: IdParamDto, @CurrentPrincipal() actor: Principal): Promise<void> {
    await this.webhooks.delete(id, actor);
  }

  @Get(':id/deliveries')
  deliveries(@Param() { id }: IdParamDto, @Query() query: CursorQueryDto) {
    return this.webhooks.deliveries(id, query);
  }

  @Post(':id/test')
  @HttpCode(HttpStatus.ACCEPTED)
  async test(@Param() { id }: IdParamDto): Promise<void> {
    await this.webhooks.sendTest(id);
  }
}
