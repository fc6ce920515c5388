import { z } from 'zod';
import { pagingQueryFields } from '../http/paging';

/** Largest processor script accepted (the REST contract's limit). */
export const PROCESSOR_FILE_MAX_BYTES = 10 * 1024 * 1024;

/** JSON metadata sent with a processor script in the `generic_processor` form field. */
export const createGenericProcessorSchema = z
  .object({
    name: z.string({ required_error: 'required' }).trim().min(1, 'must not be empty').max(200),
    description: z.string().max(4000).optional(),
    processor_parameters: z.record(z.unknown()).default({}),
  })
  .strict();

export type CreateGenericProcessorRequest = z.infer<typeof createGenericProcessorSchema>;

export const listGenericProcessorsQuerySchema = z
  .object({
    ...pagingQueryFields,
  })
  .passthrough();

export type ListGenericProcessorsQuery = z.infer<typeof listGenericProcessorsQuerySchema>;

/** A processor file name: a plain `.py` name, no directories, no hidden files, no `..`. */
export const PROCESSOR_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.py$/;
