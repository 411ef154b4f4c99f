import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Access, CurrentPrincipal } from '../auth/access.decorator';
import type { Principal } from '../auth/principal';
import { IdParamDto } from '../common/id-param.dto';
import { PageQueryDto } from '../common/page-query';
import { ClientsService } from './clients.service';
import { CreateClientDto } from './dto/create-client.dto';
import { RotateSecretDto, RotateSecretQueryDto } from './dto/rotate-secret.dto';
import { UpdateClientDto } from './dto/update-client.dto';

@ApiTags('clients')
@ApiBearerAuth()
@Access('admin')
@Controller('v1/clients')
export class ClientsController {
  constructor(private readonly clients: ClientsService) {}

  @Post()
  create(@Body() dto: CreateClientDto, @CurrentPrincipal() actor: Principal) {
    return this.clients.create(dto, actor);
  }

  @Get()
  list(@Query() query: PageQueryDto) {
    return this.clients.list(query);
  }

  @Get(':id')
  get(@Param() { id }: IdParamDto) {
    return this.clients.get(id);
  }

  @Patch(':id')
  update(@Param() { id }: IdParamDto, @Body() dto: UpdateClientDto, @CurrentPrincipal() actor: Principal) {
    return this.clients.update(id, dto, actor);
  }

  @Put(':id/secret')
  rotateSecret(
    @Param() { id }: IdParamDto,
    @Query() { verify }: RotateSecretQueryDto,
    @Body() dto: RotateSecretDto,
    @CurrentPrincipal() actor: Principal,
  ) {
    return this.clients.rotateSecret(id, dto, verify, actor);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param() { id }: IdParamDto, @CurrentPrincipal() actor: Principal): Promise<void> {
    await this.clients.delete(id, actor);
  }
}
