import * as fs from 'node:fs';

/** Connection details of the real services started by scripts/with-services.sh. Missing ones fail loudly. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run the tests through \`npm test\` (scripts/with-services.sh starts the services)`,
    );
  return value;
}

export function demoModelPaths(): { model: string; meta: string } {
  const model = requiredEnv('DEMO_MODEL_PATH');
  const meta = process.env.DEMO_MODEL_META_PATH ?? model.replace(/\.onnx$/, '.json');
  if (!fs.existsSync(model) || !fs.existsSync(meta)) throw new Error(`demo model files missing: ${model}, ${meta}`);
  return { model, meta };
}

export function pythonBin(): string {
  return process.env.PYTHON_BIN ?? 'python3';
}
