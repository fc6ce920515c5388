import { z } from 'zod';

/** Largest `offset` of a list: within PostgreSQL's bigint and exact as a JavaScript number. */
export const MAX_LIST_OFFSET = Number.MAX_SAFE_INTEGER;

/** `limit` and `offset` of every list, both capped so no value reaches the database it cannot take. */
export const pagingQueryFields = {
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(MAX_LIST_OFFSET).default(0),
};
