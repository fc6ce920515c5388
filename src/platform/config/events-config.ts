import { z } from 'zod';
import { ConfigError } from './config';

/**
 * Settings of the live events stream (docs/events.md), read from the environment like config.ts; kept apart
 * because only the API's events module reads them.
 */
const eventsConfigSchema = z.object({
  /** A `: keep-alive` comment on every open stream this often, so proxies keep idle connections. */
  EVENTS_KEEPALIVE_SECONDS: z.coerce.number().min(0.05).max(300).default(15),
  /** Where LISTEN/NOTIFY does not work (the embedded PGlite engine): how often open streams poll. */
  EVENTS_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(250),
  /** Lifetime of the tokens of POST /api/v2/inference/{id}/events/token. */
  EVENTS_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(3600),
});

export type EventsConfig = z.infer<typeof eventsConfigSchema>;

export function loadEventsConfig(env: NodeJS.ProcessEnv = process.env): EventsConfig {
  const parsed = eventsConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
