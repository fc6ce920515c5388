/**
 * onnxruntime execution providers a model may run on, in order of preference (ONNX_EXECUTION_PROVIDERS).
 *
 * onnxruntime-node's Linux x64 build can run the CUDA execution provider, but the provider library
 * (libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so) is not in the npm package: it must lie
 * next to the binding's libonnxruntime.so, and the CUDA / cuDNN libraries it needs on LD_LIBRARY_PATH
 * (`bash scripts/provision.sh gpu` puts both there, docker/Dockerfile.worker-gpu too). Where they or a GPU are
 * missing, creating a session with CUDA throws; the model thread then creates it with the next provider of the
 * list (src/geo/model/model-thread-worker.ts) and the pool logs one warning (model-thread.ts).
 */
export const EXECUTION_PROVIDERS = ['cuda', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

/** `auto` (the default): CUDA when it can be loaded, else the CPU. */
export const AUTO_EXECUTION_PROVIDERS: readonly ExecutionProviderName[] = ['cuda', 'cpu'];

/**
 * Parses ONNX_EXECUTION_PROVIDERS: `auto`, or a comma-separated list of providers in order of preference
 * (`cuda,cpu`, `cpu`, `cuda`). Throws an Error naming the setting and the bad entry.
 */
export function parseExecutionProviders(text: string | undefined): ExecutionProviderName[] {
  const value = (text ?? '').trim().toLowerCase();
  if (value === '' || value === 'auto') return [...AUTO_EXECUTION_PROVIDERS];
  const names = value.split(',').map((entry) => entry.trim());
  const providers: ExecutionProviderName[] = [];
  for (const name of names) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(name))
      throw new Error(
        `ONNX_EXECUTION_PROVIDERS: unknown execution provider "${name}" (expected "auto" or a comma-separated list of ${EXECUTION_PROVIDERS.join(', ')})`,
      );
    if (!providers.includes(name as ExecutionProviderName)) providers.push(name as ExecutionProviderName);
  }
  return providers;
}

/** The provider name of an onnxruntime `executionProviders` entry (a name or `{ name, ... }`). */
export function providerName(entry: string | { name: string }): string {
  return typeof entry === 'string' ? entry : entry.name;
}
