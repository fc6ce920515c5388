/** The bytes of a Buffer or Uint8Array as an ArrayBuffer of their own (Node pools small buffers inside larger ones). */
export function ownArrayBuffer(data: Uint8Array): ArrayBuffer {
  return (
    data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
      ? data.buffer
      : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
  ) as ArrayBuffer;
}
