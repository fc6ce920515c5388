/**
 * Registration checks of the output kind and input size against the ONNX graph (issue 14 items 2, 3), beside
 * models.service.ts's band / tile-size checks: regression channels vs output_bands, probabilities need a class
 * channel per class, and input_size (inferred from the graph's H/W when not given; a fixed graph claimed dynamic
 * is refused).
 */
import { ApiError } from '../http/api-error';
import { outputKindProblems } from './output-kind.dto';
import { taskTypeOf, type ModelInputDataSpec } from '../../../workflows/contract/model-spec';

type Dim = number | string | undefined;
const isFixed = (dim: Dim): dim is number => typeof dim === 'number' && dim > 0;

interface GraphShapes {
  inputDims: Dim[];
  outputDims: Dim[];
  outputType: string;
}

/** Checks the spec's output kind against the graph and fills in `input_size` when the spec leaves it out. */
export function checkOutputKindAgainstGraph(spec: ModelInputDataSpec, graph: GraphShapes): void {
  const field = (name: string) => `model_input_data_spec.${name}`;
  const [problem] = outputKindProblems(spec);
  if (problem) throw ApiError.unprocessable(`${field(problem.field)}: ${problem.message}`, field(problem.field));
  // H and W are the last two axes in every layout ([N, C, H, W] and the time series' BCTHW / BTCHW / B(TC)HW).
  const [height, width] = graph.inputDims.slice(-2);
  const fixedHW = isFixed(height) || isFixed(width);
  if (spec.input_size === 'dynamic' && fixedHW)
    throw ApiError.unprocessable(
      `${field('input_size')}: the graph's input is fixed at ${height}x${width} pixels, not dynamic`,
      field('input_size'),
    );
  spec.input_size ??= fixedHW ? 'fixed' : 'dynamic';
  if (taskTypeOf(spec) !== 'regression') return;
  if (graph.outputType !== 'float32')
    throw ApiError.unprocessable(
      `${field('task_type')}: a regression model's output must be float32, the graph's is ${graph.outputType}`,
      field('task_type'),
    );
  const channels = graph.outputDims.length === 4 ? graph.outputDims[1] : undefined;
  if (isFixed(channels) && spec.output_bands && spec.output_bands.length !== channels)
    throw ApiError.unprocessable(
      `${field('output_bands')}: the model outputs ${channels} channels but ${spec.output_bands.length} output_bands are named`,
      field('output_bands'),
    );
}
