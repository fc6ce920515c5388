import {
  Inject,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  RequestMethod,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { TemporalCodecController } from './temporal-codec.controller';

/**
 * CORS of the codec endpoint for the Temporal Web UI's origin(s) (TEMPORAL_CODEC_CORS_ORIGINS): the UI calls it from
 * the browser with the caller's credentials. Preflights are answered here, before authentication, as browsers
 * send them without credentials; the requests themselves still need an admin key or a Web UI admin's access token.
 */
@Injectable()
export class TemporalCodecCorsMiddleware implements NestMiddleware {
  private readonly origins: Set<string>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.origins = new Set(config.temporalCodecCorsOrigins);
  }

  use(request: Request, response: Response, next: NextFunction): void {
    const origin = request.headers.origin;
    if (origin && this.origins.has(origin)) {
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Access-Control-Allow-Credentials', 'true');
      response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      response.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Namespace');
      response.setHeader('Access-Control-Max-Age', '600');
    }
    response.setHeader('Vary', 'Origin');
    if (request.method === 'OPTIONS') {
      response.status(origin && this.origins.has(origin) ? 204 : 403).end();
      return;
    }
    next();
  }
}

@Module({ controllers: [TemporalCodecController] })
export class TemporalCodecModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(TemporalCodecCorsMiddleware)
      .forRoutes({ path: 'api/v2/temporal-codec/*splat', method: RequestMethod.ALL });
  }
}
