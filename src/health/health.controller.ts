import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { Access } from '../auth/access.decorator';
import { HealthService } from './health.service';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthService,
    private readonly checks: HealthCheckService,
  ) {}

  @Get('live')
  @Access('public')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @Access('public')
  @HealthCheck()
  ready() {
    return this.checks.check([() => this.health.storeIndicator(), () => this.health.schedulerIndicator()]);
  }

  @Get('tokens')
  @ApiBearerAuth()
  @Access('admin')
  tokens() {
    return this.health.tokens();
  }
}
