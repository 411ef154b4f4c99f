import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Access, CurrentPrincipal } from '../auth/access.decorator';
import type { Principal } from '../auth/principal';
import { IdParamDto } from '../common/id-param.dto';
import { ForceRefreshDto } from './dto/force-refresh.dto';
import { TokensService } from './tokens.service';

@ApiTags('tokens')
@ApiBearerAuth()
@Access('token')
/** GET of the token is the hot path and is served by TokenRoute, outside Nest's router. */
@Controller('v1/clients/:id/token')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  refresh(@Param() { id }: IdParamDto, @Body() dto: ForceRefreshDto, @CurrentPrincipal() principal: Principal) {
    return this.tokens.forceRefresh(principal, id, dto.rejectedToken);
  }
}
