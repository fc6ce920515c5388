import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { CocoDataset } from './coco';

/**
 * Writes JSON.stringify(dataset) to `file` piece by piece (an annotation at a time), so a whole scene's
 * COCO export is never one string in memory (and never meets V8's maximum string length).
 */
export async function writeCocoJson(dataset: CocoDataset, file: string): Promise<void> {
  const out = createWriteStream(file);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  try {
    await write(
      `{"info":${JSON.stringify(dataset.info)},"licenses":${JSON.stringify(dataset.licenses)},"images":${JSON.stringify(dataset.images)},"annotations":[`,
    );
    let batch = '';
    for (const [index, annotation] of dataset.annotations.entries()) {
      batch += (index > 0 ? ',' : '') + JSON.stringify(annotation);
      if (batch.length > 1 << 20) {
        await write(batch);
        batch = '';
      }
    }
    await write(`${batch}],"categories":${JSON.stringify(dataset.categories)}}`);
    out.end();
    await once(out, 'finish');
  } catch (error) {
    out.destroy();
    throw error;
  }
}
