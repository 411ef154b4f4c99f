import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
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
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.checks.check([() => this.health.storeIndicator(), () => this.health.schedulerIndicator()]);
    } catch (error) {
      // Not ready is an answer, not an error: it keeps Terminus' shape rather than the API's error shape.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      reply.status(503);
      return error.getResponse() as HealthCheckResult;
    }
  }

  @Get('tokens')
  @ApiBearerAuth()
  @Access('admin')
  tokens() {
    return this.health.tokens();
  }
}
