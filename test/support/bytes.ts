/** Byte helpers with no runtime or test-runner imports, shared by the suite and the Workers test bundle. */

/** The chunks joined into one Uint8Array. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
