import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Streams an object into a local file through a temp file and a rename, so a reader never sees a partial
 * file under the final name. Shared by both ObjectStore implementations' downloadToFile.
 */
export async function streamToFileAtomically(source: Readable, filePath: string): Promise<void> {
  const target = path.resolve(filePath);
  const temp = `${target}.${randomBytes(6).toString('hex')}.download`;
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await pipeline(source, fs.createWriteStream(temp, { flags: 'wx' }));
    await fsp.rename(temp, target);
  } catch (error) {
    source.destroy();
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}
