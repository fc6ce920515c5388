import { SetMetadata } from '@nestjs/common';
import type { RateLimitBucket } from './rate-limits';

export const RATE_LIMIT_BUCKET = 'geo-inference:rate-limit-bucket';

/** Counts the route in a stricter per-key bucket too (besides the `requests` every keyed route counts in). */
export const RateLimited = (bucket: Exclude<RateLimitBucket, 'requests'>) => SetMetadata(RATE_LIMIT_BUCKET, bucket);
