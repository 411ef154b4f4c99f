import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from './principal';

/** Who may call a route. Routes without the decorator are admin-only: secure by default. */
export type AccessLevel = 'admin' | 'token' | 'public';
export const ACCESS_LEVEL = 'tb:access-level';
export const Access = (level: AccessLevel) => SetMetadata(ACCESS_LEVEL, level);

export const CurrentPrincipal = createParamDecorator(
  (_: unknown, context: ExecutionContext): Principal => context.switchToHttp().getRequest().principal,
);
