/**
 * `mlm:total_parameters` of an ONNX model: the element count of its graph's initializers (the trained
 * weights; sparse initializers count their stored values), read from the protobuf without loading the file:
 * positioned reads walk the field headers and skip the tensors' bytes, so a multi-GB model costs a few reads.
 * Wire format: ModelProto.graph = 7; GraphProto.initializer = 5, sparse_initializer = 15; TensorProto.dims = 1;
 * SparseTensorProto.values = 1.
 */
import { promises as fsp } from 'node:fs';

const CHUNK = 64 * 1024;

class PositionedReader {
  private buffer = Buffer.alloc(0);
  private start = 0;
  constructor(
    private readonly file: fsp.FileHandle,
    readonly size: number,
  ) {}

  async byte(position: number): Promise<number> {
    if (position < this.start || position >= this.start + this.buffer.length) {
      const buffer = Buffer.alloc(Math.min(CHUNK, this.size - position));
      await this.file.read(buffer, 0, buffer.length, position);
      this.buffer = buffer;
      this.start = position;
    }
    return this.buffer[position - this.start]!;
  }

  /** A varint at `position`: its value (exact below 2^53) and the position after it. */
  async varint(position: number): Promise<[number, number]> {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (position >= this.size) throw new Error('truncated ONNX file');
      const byte = await this.byte(position++);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return [value, position];
      scale *= 128;
    }
  }
}

/** Calls `onField(field, start, end)` for each length-delimited field in [start, end); skips the others. */
async function fields(
  reader: PositionedReader,
  start: number,
  end: number,
  onField: (field: number, start: number, end: number, wire: number, value: number) => Promise<void>,
): Promise<void> {
  let position = start;
  while (position < end) {
    const [tag, afterTag] = await reader.varint(position);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    position = afterTag;
    if (wire === 0) {
      const [value, next] = await reader.varint(position);
      await onField(field, position, next, wire, value);
      position = next;
    } else if (wire === 1) position += 8;
    else if (wire === 5) position += 4;
    else if (wire === 2) {
      const [length, next] = await reader.varint(position);
      await onField(field, next, next + length, wire, length);
      position = next + length;
    } else throw new Error(`unsupported protobuf wire type ${wire} in the ONNX file`);
  }
  if (position !== end) throw new Error('malformed ONNX file');
}

/** Element count of a TensorProto (product of its dims; a scalar is 1). */
async function tensorElements(reader: PositionedReader, start: number, end: number): Promise<number> {
  let elements = 1;
  await fields(reader, start, end, async (field, fieldStart, fieldEnd, wire, value) => {
    if (field !== 1) return;
    if (wire === 0) elements *= value;
    else if (wire === 2) {
      // packed dims
      let position = fieldStart;
      while (position < fieldEnd) {
        const [dim, next] = await reader.varint(position);
        elements *= dim;
        position = next;
      }
    }
  });
  return elements;
}

/** The number of trained parameters of the ONNX model in `file`. */
export async function countOnnxParameters(file: string): Promise<number> {
  const handle = await fsp.open(file, 'r');
  try {
    const reader = new PositionedReader(handle, (await handle.stat()).size);
    let total = 0;
    await fields(reader, 0, reader.size, async (field, start, end, wire) => {
      if (field !== 7 || wire !== 2) return;
      await fields(reader, start, end, async (graphField, tensorStart, tensorEnd, graphWire) => {
        if (graphWire !== 2) return;
        if (graphField === 5) total += await tensorElements(reader, tensorStart, tensorEnd);
        else if (graphField === 15)
          await fields(reader, tensorStart, tensorEnd, async (sparseField, valuesStart, valuesEnd, sparseWire) => {
            if (sparseField === 1 && sparseWire === 2) total += await tensorElements(reader, valuesStart, valuesEnd);
          });
      });
    });
    return total;
  } finally {
    await handle.close();
  }
}
