import '../fixtures/jest-native-realm';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { stepHeartbeat } from '../../activities/runtime/activity-context';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import type { Raster } from '../../src/geo/raster/raster';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { ModelShapeError, OnnxSegmenter, planTiles } from '../../src/geo/model/segmentation';

/**
 * OnnxSegmenter's model threads with the tiny identity model (logit c = normalized band c + bias, see
 * test/fixtures/make_tiny_model.py): several calls at once, abort, a dying thread.
 * test/integration/model-threads.spec.ts covers the event loop and batching with the real model.
 */
const IDENTITY_MODEL = path.join(__dirname, '..', 'fixtures', 'tiny_identity.onnx');
const SPEC: ModelInputDataSpec = {
  bands: [{ name: 'a' }, { name: 'b', source_index: 3 }, { name: 'c', source_index: 2 }],
  scaling: { scale: 0.5, offset: 1 },
  normalization: { mean: [10, 11, 9], std: [4, 5, 3] },
  tile_size: 8,
  tile_overlap: 2,
  nodata: 0,
  classes: [
    { value: 7, name: 'first' },
    { value: 8, name: 'second' },
    { value: 9, name: 'third' },
  ],
  output_nodata: 250,
};

function randomRaster(width: number, height: number, seed: number): Raster {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const bands = Array.from({ length: 3 }, () =>
    Uint16Array.from({ length: width * height }, () => 1 + Math.floor(random() * 40)),
  );
  // a no-data corner: every band 0
  for (const band of bands) band.fill(0, 0, Math.min(3, width));
  return { width, height, bandCount: 3, dataType: 'uint16', bands, georef: { geoKeys: {} }, nodata: null };
}

let threads = new ModelThreadPool(1);
const load = (options: { batchSize?: number } = {}) =>
  OnnxSegmenter.load(threads, IDENTITY_MODEL, SPEC, { intraOpThreads: 1, batchSize: 4, ...options });

afterAll(() => threads.close());

describe('model threads', () => {
  it('gives concurrent calls exactly the masks of separate calls, and leaves the rasters usable', async () => {
    const segmenter = await load();
    const sizes: Array<[number, number]> = [
      [8, 8],
      [19, 13],
      [8, 8],
      [30, 7],
      [5, 5],
      [8, 8],
      [23, 41],
      [8, 8],
    ];
    const rasters = sizes.map(([width, height], i) => randomRaster(width, height, 100 + i));
    const before = rasters.map((raster) => raster.bands.map((band) => Array.from(band)));
    const statsBefore = threads.stats();
    const separate: Uint8Array[] = [];
    for (const raster of rasters) separate.push(await segmenter.segment(raster));
    const separateRuns = threads.stats().runs - statsBefore.runs;
    expect(sizes.reduce((sum, [w, h]) => sum + planTiles(w, h, 8, 2).length, 0)).toBe(44);
    expect(separateRuns).toBe(16);

    const progress = new Map<number, Array<[number, number]>>();
    const concurrent = await Promise.all(
      rasters.map((raster, i) =>
        segmenter.segment(raster, {
          onProgress: (done, total) => progress.set(i, [...(progress.get(i) ?? []), [done, total]]),
        }),
      ),
    );
    const concurrentRuns = threads.stats().runs - statsBefore.runs - separateRuns;
    concurrent.forEach((mask, i) => {
      expect(mask).toBeInstanceOf(Uint8Array);
      expect(Array.from(mask)).toEqual(Array.from(separate[i]!));
      const tiles = planTiles(sizes[i]![0], sizes[i]![1], 8, 2).length;
      expect(progress.get(i)![0]).toEqual([0, tiles]);
      expect(progress.get(i)!.at(-1)).toEqual([tiles, tiles]);
    });
    // Runs are filled with tiles of several calls: 44 tiles in fewer runs than the 16 of separate calls.
    expect(concurrentRuns).toBeLessThan(separateRuns);
    expect(concurrentRuns).toBeGreaterThanOrEqual(11);
    expect(threads.stats().sharedRuns).toBeGreaterThan(statsBefore.sharedRuns);
    // Sanity of the masks themselves: class values and the no-data corner.
    expect(separate[1]![0]).toBe(250);
    expect(new Set(separate[1]!.subarray(19 * 5))).toEqual(new Set([7, 8, 9]));
    // The caller's bands were copied, not moved: still attached and unchanged.
    rasters.forEach((raster, i) => raster.bands.forEach((band, b) => expect(Array.from(band)).toEqual(before[i]![b])));
  });

  it('hands the picked bands over instead of copying them when asked, with the same mask', async () => {
    const segmenter = await load();
    const copied = randomRaster(19, 13, 7);
    const handed = randomRaster(19, 13, 7);
    const expected = await segmenter.segment(copied);
    const mask = await segmenter.segment(handed, { handOverBands: true });
    expect(Array.from(mask)).toEqual(Array.from(expected));
    // SPEC picks bands 1, 3 and 2: all three moved to the thread (detached here); the copied raster kept its own.
    expect(handed.bands.map((band) => band.byteLength)).toEqual([0, 0, 0]);
    expect(copied.bands.map((band) => band.length)).toEqual([19 * 13, 19 * 13, 19 * 13]);
  });

  it('rejects an aborted call with its reason and finishes the others', async () => {
    const segmenter = await load();
    const rasters = [61, 62, 63].map((seed) => randomRaster(60, 60, seed));
    const expected: Uint8Array[] = [];
    for (const raster of rasters) expected.push(await segmenter.segment(raster));

    const controller = new AbortController();
    const reason = new Error('stopped by the test');
    let abortedAt = -1;
    const runs = rasters.map((raster, i) =>
      segmenter.segment(raster, {
        signal: i === 1 ? controller.signal : undefined,
        onProgress: (done) => {
          if (i === 1 && done > 0 && abortedAt < 0) {
            abortedAt = done;
            controller.abort(reason);
          }
        },
      }),
    );
    const [first, second, third] = await Promise.allSettled(runs);
    expect(second).toEqual({ status: 'rejected', reason });
    expect(abortedAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThan(planTiles(60, 60, 8, 2).length);
    expect(first.status === 'fulfilled' && Array.from(first.value)).toEqual(Array.from(expected[0]!));
    expect(third.status === 'fulfilled' && Array.from(third.value)).toEqual(Array.from(expected[2]!));

    // A signal aborted before the call rejects at once.
    await expect(segmenter.segment(rasters[0]!, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('rejects the requests of a thread that dies with a plain Error; waiting and later calls get a fresh thread', async () => {
    const segmenter = await load();
    const big = randomRaster(90, 90, 7);
    const expected = await segmenter.segment(big);
    const before = threads.stats();

    const running = segmenter.segment(big);
    // Waits here while the thread holds the first one's tiles: not lost with the thread.
    const waiting = segmenter.segment(big);
    threads.crashThreadsForTesting('simulated crash');
    const error: unknown = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ModelShapeError);
    expect((error as Error).message).toMatch(
      /^the model thread stopped: simulated crash; the segmentation did not finish and can be retried$/,
    );
    expect(Array.from(await waiting)).toEqual(Array.from(expected));
    expect(Array.from(await segmenter.segment(big))).toEqual(Array.from(expected));
    const after = threads.stats();
    expect(after.threadsLost).toBe(before.threadsLost + 1);
    expect(after.threadsStarted).toBe(before.threadsStarted + 1);
    expect(after.threadsAlive).toBe(1);
  });

  it('runs calls in parallel threads up to MODEL_CONCURRENCY, and shrinks back', async () => {
    const before = threads.stats();
    threads.resize(2);
    const segmenter = await load();
    const rasters = [1, 2, 3].map((seed) => randomRaster(70, 50, seed));
    const masks = await Promise.all(rasters.map((raster) => segmenter.segment(raster)));
    expect(threads.stats().threadsAlive).toBe(2);
    expect(threads.stats().threadsStarted).toBe(before.threadsStarted + 1);
    threads.resize(1);
    const single = await load();
    for (const [i, raster] of rasters.entries())
      expect(Array.from(await single.segment(raster))).toEqual(Array.from(masks[i]!));
    expect(threads.stats().threadsAlive).toBe(1);
  });

  it('with threads auto, has a thread per core and runs concurrent calls side by side with the same masks', async () => {
    const auto = new ModelThreadPool(0);
    try {
      expect(auto.maxThreads).toBe(os.availableParallelism());
      // intraOpThreads unset: inputs of one run (these) run on a core's share each, side by side.
      const segmenter = await OnnxSegmenter.load(auto, IDENTITY_MODEL, SPEC, { batchSize: 4 });
      const rasters = [1, 2, 3, 4].map((seed) => randomRaster(70, 50, seed));
      expect(auto.segmentCallsInFlight()).toBe(0);
      const running = rasters.map((raster) => segmenter.segment(raster));
      expect(auto.segmentCallsInFlight()).toBe(4);
      const masks = await Promise.all(running);
      expect(auto.segmentCallsInFlight()).toBe(0);
      expect(auto.stats().threadsStarted).toBe(Math.min(4, os.availableParallelism()));
      const reference = await load();
      for (const [i, raster] of rasters.entries())
        expect(Array.from(masks[i]!)).toEqual(Array.from(await reference.segment(raster)));
    } finally {
      await auto.close();
    }
  });

  it('reports a model file that cannot be loaded', async () => {
    await expect(OnnxSegmenter.load(threads, path.join(__dirname, 'missing.onnx'), SPEC)).rejects.toThrow(
      /no such file/,
    );
  });
});

describe('model thread progress', () => {
  it('heartbeats the activity that asked, not the one whose call spawned the thread', async () => {
    await threads.close();
    threads = new ModelThreadPool(1); // the first activity below spawns its thread
    const first = new MockActivityEnvironment({ activityId: 'first' });
    const second = new MockActivityEnvironment({ activityId: 'second' });
    const beats = { first: 0, second: 0 };
    first.on('heartbeat', () => (beats.first += 1));
    second.on('heartbeat', () => (beats.second += 1));
    const onProgress = () => stepHeartbeat({ tiles: true });
    const started = threads.stats().threadsStarted;
    // As in a worker: the first model step loads the model, which starts the thread inside its activity.
    const segmenter = (await first.run(async () => {
      const loaded = await load({ batchSize: 1 });
      await loaded.segment(randomRaster(40, 40, 1), { onProgress });
      return loaded;
    })) as OnnxSegmenter;
    expect(threads.stats().threadsStarted).toBe(started + 1);
    const firstBeats = beats.first;
    expect(firstBeats).toBeGreaterThan(1);
    await second.run(() => segmenter.segment(randomRaster(40, 40, 2), { onProgress }));
    // Same thread, second activity: every progress report is its own heartbeat.
    expect(threads.stats().threadsStarted).toBe(started + 1);
    expect(beats.second).toBeGreaterThan(1);
    expect(beats.first).toBe(firstBeats);
  });
});
