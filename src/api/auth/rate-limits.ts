import { Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import type { Principal } from './principal';

/** `requests`: every keyed request; `inference-starts`: requests that start workflow runs (create, upload, retry). */
export type RateLimitBucket = 'requests' | 'inference-starts';

/**
 * Per-key rate limits (fixed one-minute windows, rate-limiter-flexible in memory): past the limit a request gets
 * 429 with `Retry-After` (seconds until the window ends). Counted per API process: with N API replicas behind a
 * balancer a key gets up to N times the limit.
 */
@Injectable()
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterMemory>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  private limiter(bucket: RateLimitBucket, points: number): RateLimiterMemory {
    const name = `${bucket}:${points}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: 60 });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  private limitOf(principal: Principal, bucket: RateLimitBucket): number {
    if (bucket === 'inference-starts') return this.config.RATE_LIMIT_INFERENCES_PER_MINUTE;
    return principal.rateLimitPerMinute ?? this.config.RATE_LIMIT_PER_MINUTE;
  }

  /** Counts one request of the key; throws 429 (with Retry-After set on `response`) past the limit. */
  async consume(principal: Principal, bucket: RateLimitBucket, response: Response): Promise<void> {
    const points = this.limitOf(principal, bucket);
    if (points === 0) return;
    const prefix = bucket === 'requests' ? 'RateLimit' : 'RateLimit-Inference-Starts';
    try {
      const result = await this.limiter(bucket, points).consume(principal.keyId, 1);
      response.setHeader(`${prefix}-Limit`, String(points));
      response.setHeader(`${prefix}-Remaining`, String(result.remainingPoints));
      response.setHeader(`${prefix}-Reset`, String(Math.ceil(result.msBeforeNext / 1000)));
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      response.setHeader('Retry-After', String(seconds));
      response.setHeader(`${prefix}-Limit`, String(points));
      response.setHeader(`${prefix}-Remaining`, '0');
      response.setHeader(`${prefix}-Reset`, String(seconds));
      const what = bucket === 'requests' ? 'requests' : 'inference starts';
      throw new ApiError(
        429,
        `rate limit of this API key exceeded (${points} ${what} a minute): retry in ${seconds} s`,
      );
    }
  }
}
