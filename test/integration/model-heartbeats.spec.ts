import '../fixtures/jest-native-realm';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { stepHeartbeat } from '../../activities/runtime/activity-context';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import type { Raster } from '../../src/geo/raster/raster';
import { OnnxSegmenter } from '../../src/geo/model/segmentation';
import { demoModelMetadata } from '../../scripts/demo-model';
import { demoModelPaths, requiredEnv } from '../support/services';
import type { RepeatedModelStepActivities } from '../support/workflows/repeated-model-steps.workflow';

/** A 6-band raster of plausible L2A reflectance digital numbers, different per seed. */
function sampleScene(size: number, seed: number): Raster {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const bands = Array.from({ length: 6 }, () =>
    Uint16Array.from({ length: size * size }, () => 200 + Math.floor(random() * 3000)),
  );
  return { width: size, height: size, bandCount: 6, dataType: 'uint16', bands, georef: { geoKeys: {} }, nodata: null };
}

/**
 * Model steps longer than their heartbeat timeout, several in a row in one worker process: each must heartbeat
 * its own activity (the model thread was spawned by the first one), or Temporal times the later ones out.
 */
describe('model-step heartbeats on the real Temporal server', () => {
  const threads = new ModelThreadPool(1);
  afterAll(() => threads.close());

  it('keeps every one of several long model steps in one worker alive', async () => {
    const { model, meta } = demoModelPaths();
    const spec = demoModelMetadata(meta).model_input_data_spec;
    // Built before the worker starts: only the segmentation itself runs inside the activities.
    const scenes = [1, 2, 3].map((seed) => sampleScene(2200, seed));
    let segmenter: OnnxSegmenter | undefined;
    const activities: RepeatedModelStepActivities = {
      async segmentSample(seed) {
        if (!segmenter) {
          // Loaded by the first step, inside its activity: the model thread belongs to that context. The load
          // itself reports no progress, so it heartbeats on its own (slow on a loaded machine).
          const loading = setInterval(() => stepHeartbeat({ loading: true }), 500);
          try {
            segmenter = await OnnxSegmenter.load(threads, model, spec, { intraOpThreads: 1 });
          } finally {
            clearInterval(loading);
          }
        }
        let heartbeats = 0;
        let tiles = 0;
        const started = Date.now();
        // From here on only the model thread's progress keeps this activity alive.
        await segmenter.segment(scenes[seed - 1]!, {
          onProgress: (_done, total) => {
            tiles = total;
            heartbeats += 1;
            stepHeartbeat({ tiles_total: total });
          },
        });
        // Longer than the 4 s heartbeat timeout, or the test would prove nothing.
        if (Date.now() - started < 5000)
          throw new Error(`the step took only ${Date.now() - started} ms; use a larger scene`);
        return { tiles, heartbeats };
      },
    };
    const taskQueue = `heartbeats-${randomUUID().slice(0, 8)}`;
    const connection = await NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
    const clientConnection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, '..', 'support', 'workflows', 'repeated-model-steps.workflow.ts'),
      logger: { log() {}, info() {}, warn() {}, error() {}, debug() {}, trace() {} } as never,
    });
    const worker = await Worker.create({ connection, taskQueue, workflowBundle, activities });
    try {
      const results = await worker.runUntil(
        new Client({ connection: clientConnection }).workflow
          .execute('repeatedModelSteps', {
            taskQueue,
            workflowId: `heartbeats-${randomUUID()}`,
            args: [3],
          })
          .catch((error: unknown) => {
            // Say which step failed and why (a heartbeat timeout is the defect this test is about).
            const causes: string[] = [];
            for (
              let cause = error as { message?: string; cause?: unknown } | undefined;
              cause;
              cause = cause.cause as typeof cause
            ) {
              causes.push(cause.message ?? String(cause));
            }
            throw new Error(causes.join(' <- '));
          }),
      );
      expect(results).toHaveLength(3);
      for (const result of results) expect(result.heartbeats).toBeGreaterThan(2);
    } finally {
      await clientConnection.close();
      await connection.close();
    }
  }, 120_000);
});
