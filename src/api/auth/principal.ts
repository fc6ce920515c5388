/** Who is calling: the API key's user, whether it is an admin key, and which key (rate limits count per key). */
export interface Principal {
  email: string;
  admin: boolean;
  /** `config:<digest prefix>` for keys from the configuration, the row id for keys added at run time. */
  keyId: string;
  /** This key's own requests-a-minute limit; undefined: RATE_LIMIT_PER_MINUTE. */
  rateLimitPerMinute?: number;
}
