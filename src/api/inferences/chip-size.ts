import { ApiError } from '../http/api-error';
import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';

/**
 * A request's chip_size (issue 14 item 3): a dynamic-input model runs on tiles of that size; a fixed-size model
 * only on its own tile_size. The model's tile_overlap must stay under half the chip.
 */
export function checkChipSize(chipSize: number | undefined, spec: ModelInputDataSpec): void {
  if (chipSize === undefined) return;
  if (spec.input_size !== 'dynamic' && chipSize !== spec.tile_size)
    throw ApiError.unprocessable(
      `chip_size: the model takes fixed ${spec.tile_size}x${spec.tile_size} tiles; chip_size must be ${spec.tile_size} (or left out)`,
      'chip_size',
    );
  if (spec.tile_overlap * 2 >= chipSize)
    throw ApiError.unprocessable(
      `chip_size: must be more than twice the model's tile_overlap (${spec.tile_overlap})`,
      'chip_size',
    );
}
