import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Access, CurrentPrincipal } from '../auth/access.decorator';
import type { Principal } from '../auth/principal';
import { IdParamDto } from '../common/id-param.dto';
import { CreateServiceKeyDto } from './dto/create-service-key.dto';
import { ServiceKeysService } from './service-keys.service';

@ApiTags('service keys')
@ApiBearerAuth()
@Access('admin')
@Controller('v1/service-keys')
export class ServiceKeysController {
  constructor(private readonly serviceKeys: ServiceKeysService) {}

  @Post()
  create(@Body() dto: CreateServiceKeyDto, @CurrentPrincipal() actor: Principal) {
    return this.serviceKeys.create(dto, actor);
  }

  @Get()
  list() {
    return this.serviceKeys.list();
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param() { id }: IdParamDto, @CurrentPrincipal() actor: Principal): Promise<void> {
    await this.serviceKeys.delete(id, actor);
  }
}
