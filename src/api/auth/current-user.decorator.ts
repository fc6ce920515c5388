import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AuthenticatedRequest } from './api-key.guard';
import type { Principal } from './principal';

/** The email of the API key's user (set by ApiKeyGuard); becomes `created_by`. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
  return request.user?.email ?? 'anonymous';
});

/** The caller as a whole: user, admin or not, key. Only on keyed routes (ApiKeyGuard sets it). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!request.user) throw new Error('CurrentPrincipal on a route without ApiKeyGuard authentication');
  return request.user;
});
