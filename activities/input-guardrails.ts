import type { ActivityDeps } from './deps';
import type { StepLog } from './runtime/step-log';
import { invalidInput } from '../workflows/contract/errors';
import type { ModelEntity } from '../src/platform/database/entities';
import {
  checkInputGuardrails,
  guardrailSummary,
  learnInputRanges,
  type ExpectedRange,
  type GuardrailReport,
} from '../src/geo/model/input-guardrails';
import { decodeGeoTiff } from '../src/geo/raster/decode';
import { ownArrayBuffer } from '../src/geo/raster/buffers';
import type { Raster } from '../src/geo/raster/raster';

/** Whether a model's inputs are checked: its spec has `guardrails`, or it has a golden pair to learn ranges from. */
const guarded = (model: ModelEntity) => Boolean(model.modelInputDataSpec.guardrails || model.golden);

/**
 * Ranges learned from the model's golden input (kept in storage since registration), when the spec declares
 * none; once per activity, not per task. A golden input that cannot be read leaves the ranges out.
 */
export async function learnedInputRanges(deps: ActivityDeps, model: ModelEntity): Promise<ExpectedRange[] | undefined> {
  const spec = model.modelInputDataSpec;
  if (!guarded(model) || spec.guardrails?.input_ranges || !model.golden) return undefined;
  try {
    const bytes = await deps.store.getObject(model.golden.input_key);
    return learnInputRanges(await decodeGeoTiff(ownArrayBuffer(bytes), 'golden-input.tif'), spec);
  } catch {
    return undefined;
  }
}

/**
 * The input guardrails of one task's input: violations are logged and returned as warnings, or fail the task
 * (not retryable) when the spec says `on_violation: 'fail'`. Undefined for models without guardrails. A time
 * series is checked frame by frame; `frameDates` (the chip's frames, oldest first) name a bad frame's date.
 */
export function checkTaskInput(
  model: ModelEntity,
  raster: Raster,
  learned: ExpectedRange[] | undefined,
  log: StepLog,
  frameDates?: ReadonlyArray<string | null | undefined>,
): { report: GuardrailReport; warnings: string[] } | undefined {
  if (!guarded(model)) return undefined;
  const spec = model.modelInputDataSpec;
  const report = checkInputGuardrails(raster, spec, spec.guardrails ?? {}, learned, undefined, frameDates);
  if (report.violations.length === 0) {
    log.info(
      `input guardrails: no violation (${report.sampled_pixels} pixels sampled, ranges ${report.ranges_from === 'none' ? 'not set' : `from ${report.ranges_from}`})`,
    );
    return { report, warnings: [] };
  }
  const summary = guardrailSummary(report);
  if (report.on_violation === 'fail') throw invalidInput(summary);
  log.warn(summary);
  return { report, warnings: [summary] };
}
