import type { InferenceEntity } from '../../platform/database/entities';
import type { InferencesRepository } from '../../platform/database/repositories';
import { ApiError } from '../http/api-error';

/** The user's inference, or 404 (also when another user owns it: ids of others' inferences are not revealed). */
export async function ownedInference(
  inferences: InferencesRepository,
  id: string,
  user: string,
): Promise<InferenceEntity> {
  const inference = await inferences.findOwned(id, user);
  if (!inference) throw ApiError.notFound(`inference ${id} not found`);
  return inference;
}
