import { z } from 'zod';

const email = z
  .string()
  .trim()
  .min(3)
  .max(320)
  .regex(/^[^\s@:,]+@[^\s@:,]+$/, 'must be an e-mail address');

/** POST /api/v2/api-keys (admin keys only). */
export const createApiKeySchema = z
  .object({
    user: email.describe('the user (e-mail) the key authenticates as'),
    name: z.string().trim().min(1).max(200).optional().describe('what the key is for, e.g. "CI pipeline"'),
    admin: z.boolean().default(false).describe('an admin key (may add and revoke keys, change every model)'),
    rate_limit_per_minute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('requests a minute for this key; default RATE_LIMIT_PER_MINUTE'),
  })
  .strict();
export type CreateApiKeyRequest = z.infer<typeof createApiKeySchema>;

const booleanQuery = z
  .enum(['true', 'false'])
  .transform((value) => value === 'true')
  .default('false');

export const listApiKeysQuerySchema = z
  .object({
    user: email.optional().describe("admin keys only: this user's keys (default: everyone's)"),
    include_revoked: booleanQuery.describe('also list revoked keys'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  })
  .strict();
export type ListApiKeysQuery = z.infer<typeof listApiKeysQuerySchema>;

export const apiKeyViewSchema = z.object({
  id: z.string().uuid(),
  user: z.string(),
  name: z.string().nullable(),
  key_prefix: z.string().describe('the first characters of the key, to tell keys apart'),
  admin: z.boolean(),
  rate_limit_per_minute: z.number().int().nullable(),
  created_by: z.string(),
  created_at: z.string().datetime(),
  revoked_at: z.string().datetime().nullable(),
  revoked_by: z.string().nullable(),
});
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;

export const createdApiKeySchema = apiKeyViewSchema.extend({
  key: z.string().describe('the key itself: shown this once, only its SHA-256 digest is stored'),
});

export const apiKeyListSchema = z.object({ results: z.array(apiKeyViewSchema), total_records: z.number().int() });

export const principalViewSchema = z.object({
  user: z.string(),
  admin: z.boolean(),
  key_id: z.string().describe('`config:<digest prefix>` for keys from the configuration, else the key id'),
  rate_limit_per_minute: z.number().int().nullable().describe('0: no limit'),
});
