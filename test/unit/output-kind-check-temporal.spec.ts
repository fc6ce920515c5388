import { checkOutputKindAgainstGraph } from '../../src/api/models/output-kind-check';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';

/** input_size of time series graphs: H and W are the last two axes whatever the layout (not the T axis of BCTHW). */
describe('input_size inferred from a time series graph', () => {
  const spec = (layout: 'BCTHW' | 'BTCHW' | 'B(TC)HW'): ModelInputDataSpec => ({
    bands: [{ name: 'red' }, { name: 'nir' }],
    tile_size: 64,
    tile_overlap: 0,
    classes: [],
    task_type: 'regression',
    temporal: { num_steps: 5, temporal_step: 10, temporal_tolerance: 3, layout },
  });
  const graph = (inputDims: Array<number | string>) => ({
    inputDims,
    outputDims: ['N', 1, 'H', 'W'],
    outputType: 'float32',
  });

  it.each([
    ['BCTHW', ['N', 2, 5, 'H', 'W']],
    ['BTCHW', ['N', 5, 2, 'H', 'W']],
    ['B(TC)HW', ['N', 10, 'H', 'W']],
  ] as const)('%s with dynamic H/W and a fixed T is dynamic', (layout, dims) => {
    const checked = spec(layout);
    checkOutputKindAgainstGraph(checked, graph([...dims]));
    expect(checked.input_size).toBe('dynamic');
  });

  it('BCTHW with fixed 64 x 64 is fixed; claimed dynamic it is refused naming input_size', () => {
    const checked = spec('BCTHW');
    checkOutputKindAgainstGraph(checked, graph(['N', 2, 5, 64, 64]));
    expect(checked.input_size).toBe('fixed');
    expect(() =>
      checkOutputKindAgainstGraph({ ...spec('BCTHW'), input_size: 'dynamic' }, graph(['N', 2, 'T', 64, 64])),
    ).toThrow(/model_input_data_spec\.input_size: the graph's input is fixed at 64x64/);
  });
});
