import '../fixtures/jest-native-realm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/platform/config/config';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { OnnxSegmenter } from '../../src/geo/model/segmentation';
import { parseExecutionProviders } from '../../workflows/contract/execution-providers';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import type { Raster } from '../../src/geo/raster/raster';

/**
 * ONNX_EXECUTION_PROVIDERS and the CUDA -> CPU fallback. The CUDA provider library is not part of the npm
 * package (scripts/provision.sh gpu installs it): where it is absent, which is the case in CI, a model asked to
 * run on `cuda,cpu` runs on the CPU, says so, and the pool warns once. Where it is installed, the fallback
 * cases are skipped (a machine with a GPU runs them on CUDA instead).
 */
const IDENTITY_MODEL = path.join(__dirname, '..', 'fixtures', 'tiny_identity.onnx');
const BINDING_DIR = path.dirname(
  require.resolve(`onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`),
);
const CUDA_PROVIDER_INSTALLED = fs.existsSync(path.join(BINDING_DIR, 'libonnxruntime_providers_cuda.so'));
const withoutCuda = CUDA_PROVIDER_INSTALLED ? it.skip : it;

const SPEC: ModelInputDataSpec = {
  bands: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  tile_size: 8,
  tile_overlap: 2,
  classes: [
    { value: 1, name: 'first' },
    { value: 2, name: 'second' },
    { value: 3, name: 'third' },
  ],
};

function raster(width: number, height: number): Raster {
  const bands = Array.from({ length: 3 }, (_, band) =>
    Float32Array.from({ length: width * height }, (_, i) => Math.sin(i * (band + 1) * 0.37) * 10),
  );
  return { width, height, bandCount: 3, dataType: 'float32', bands, georef: { geoKeys: {} }, nodata: null };
}

describe('ONNX_EXECUTION_PROVIDERS', () => {
  it('parses auto, lists and rejects unknown providers naming the setting', () => {
    expect(parseExecutionProviders(undefined)).toEqual(['cuda', 'cpu']);
    expect(parseExecutionProviders('auto')).toEqual(['cuda', 'cpu']);
    expect(parseExecutionProviders(' CUDA , cpu ')).toEqual(['cuda', 'cpu']);
    expect(parseExecutionProviders('cpu')).toEqual(['cpu']);
    expect(() => parseExecutionProviders('cuda,tpu')).toThrow(/ONNX_EXECUTION_PROVIDERS.*"tpu"/);
    expect(loadConfig({}).ONNX_EXECUTION_PROVIDERS).toEqual(['cuda', 'cpu']);
    expect(loadConfig({ ONNX_EXECUTION_PROVIDERS: 'cpu' }).ONNX_EXECUTION_PROVIDERS).toEqual(['cpu']);
    expect(() => loadConfig({ ONNX_EXECUTION_PROVIDERS: 'gpu' })).toThrow(/ONNX_EXECUTION_PROVIDERS/);
  });
});

describe('CUDA with CPU fallback', () => {
  const warnings: string[] = [];
  const threads = new ModelThreadPool(2, { onProviderFallback: (message) => warnings.push(message) });
  afterAll(() => threads.close());

  withoutCuda('runs on the CPU when CUDA cannot be loaded, warns once, and computes the CPU result', async () => {
    const cpu = await OnnxSegmenter.load(threads, IDENTITY_MODEL, SPEC, { intraOpThreads: 1 });
    expect(cpu.executionProvider).toBe('cpu');
    expect(cpu.providerFallback).toBeUndefined();
    expect(warnings).toEqual([]);

    const preferCuda = await OnnxSegmenter.load(threads, IDENTITY_MODEL, SPEC, {
      intraOpThreads: 1,
      executionProviders: ['cuda', 'cpu'],
    });
    expect(preferCuda.executionProvider).toBe('cpu');
    expect(preferCuda.providerFallback).toMatch(/^cuda: .*Failed to load/);
    expect(preferCuda.batchSize).toBe(4); // the CPU's default, not the GPU's
    // Both threads of the pool load it (concurrent calls), the warning is told once.
    const [a, b] = await Promise.all([
      preferCuda.segmentDetailed(raster(40, 30)),
      preferCuda.segmentDetailed(raster(30, 40)),
    ]);
    expect([a.executionProvider, b.executionProvider]).toEqual(['cpu', 'cpu']);
    expect(threads.stats().threadsStarted).toBe(2);
    await OnnxSegmenter.load(threads, IDENTITY_MODEL, SPEC, { intraOpThreads: 1, executionProviders: ['cuda', 'cpu'] });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/running on cpu \(cuda: /);
    expect(Array.from(a.mask)).toEqual(Array.from(await cpu.segment(raster(40, 30))));
  });

  withoutCuda('fails with the load error when only CUDA is allowed', async () => {
    await expect(
      OnnxSegmenter.load(threads, IDENTITY_MODEL, SPEC, { intraOpThreads: 1, executionProviders: ['cuda'] }),
    ).rejects.toThrow(/no execution provider could be loaded \(cuda: .*Failed to load|Failed to load/);
  });
});
