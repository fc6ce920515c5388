/** Files that are not usable GeoTIFFs. */

/** The file cannot be used as a GeoTIFF input; `message` says why in words a user understands. */
export class InvalidGeoTiffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidGeoTiffError';
  }
}

/** A parse error of geotiff.js as an InvalidGeoTiffError with a readable reason (I/O errors pass through). */
export function asInvalid(error: unknown, filePath: string): Error {
  if (error instanceof InvalidGeoTiffError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') return error as Error;
  const message = (error as Error)?.message ?? String(error);
  if (/invalid (tiff|magic)|not a tiff/i.test(message)) return new InvalidGeoTiffError('not a TIFF file');
  if (/out of bounds|offset is outside|RangeError|beyond/i.test(message) || error instanceof RangeError) {
    return new InvalidGeoTiffError(`the file is truncated or corrupt (${message})`);
  }
  return new InvalidGeoTiffError(`cannot parse ${filePath.split(/[\\/]/).pop()}: ${message}`);
}
