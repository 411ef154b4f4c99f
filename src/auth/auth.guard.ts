import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { BrokerError } from '../common/broker-error';
import { ACCESS_LEVEL, type AccessLevel } from './access.decorator';
import { AuthService } from './auth.service';
import type { Principal } from './principal';

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const level =
      this.reflector.getAllAndOverride<AccessLevel>(ACCESS_LEVEL, [context.getHandler(), context.getClass()]) ??
      'admin';
    if (level === 'public') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    const principal = await this.auth.authenticate(request.headers.authorization, request.ip);
    if (level === 'admin' && principal.kind !== 'admin') {
      throw new BrokerError('forbidden', 'This route needs an admin key; service keys may only fetch tokens');
    }
    const overBudget = level === 'token' ? this.auth.chargeTokenRequest(principal) : null;
    if (overBudget) throw overBudget;
    request.principal = principal;
    return true;
  }
}
