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

/** `whole` cut into chunks of the given sizes, the rest as one last chunk (for property tests). */
export function chunksOf(whole: Uint8Array, sizes: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= whole.length) break;
    chunks.push(whole.slice(at, at + size));
    at += size;
  }
  if (at < whole.length) chunks.push(whole.slice(at));
  return chunks;
}
