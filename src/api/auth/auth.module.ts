import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyAuthenticator } from './api-key-authenticator';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysService } from './api-keys.service';
import { OidcAccessTokens } from './oidc-access-tokens';
import { RateLimits } from './rate-limits';
import { TokenGenerations } from './token-generations';

@Global()
@Module({
  controllers: [ApiKeysController],
  providers: [
    ApiKeyAuthenticator,
    OidcAccessTokens,
    RateLimits,
    TokenGenerations,
    ApiKeysService,
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
  exports: [ApiKeyAuthenticator, RateLimits, TokenGenerations],
})
export class AuthModule {}
