import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ObjectStore } from '../../platform/storage/object-store';

/**
 * Workers keep a local copy of each model file (onnxruntime needs a path or the whole buffer), keyed by
 * content hash so a re-uploaded model never reuses a stale copy.
 */
export async function ensureLocalModelFile(
  store: ObjectStore,
  cacheDir: string,
  modelId: string,
  fileKey: string,
  sha256: string,
): Promise<string> {
  const target = path.join(cacheDir, `${modelId}-${sha256.slice(0, 16)}.onnx`);
  if (fs.existsSync(target)) return target;
  fs.mkdirSync(cacheDir, { recursive: true });
  const partial = `${target}.${process.pid}.${Date.now()}.partial`;
  try {
    await store.downloadToFile(fileKey, partial);
    const digest = await sha256OfFile(partial);
    if (digest !== sha256) throw new Error(`model file ${fileKey} does not match its recorded checksum`);
    fs.renameSync(partial, target);
  } finally {
    fs.rmSync(partial, { force: true });
  }
  return target;
}

export async function sha256OfFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
