/** A ConnSource driven by the test: fakes for core unit tests, never proof that an adapter works. */
import type { ConnSink, ConnSource } from "../../src/index.ts";
import { chunksOf } from "./bytes.ts";

export interface Scripted {
  source: ConnSource;
  state: { paused: boolean; pauses: number; written: Uint8Array[] };
  sink: () => ConnSink;
}

export function scripted(overrides: Partial<ConnSource> = {}): Scripted {
  let sink!: ConnSink;
  const state = { paused: false, pauses: 0, written: [] as Uint8Array[] };
  const source: ConnSource = {
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
    native: null,
    start: (s) => void (sink = s),
    pause: () => void ((state.paused = true), state.pauses++),
    resume: () => void (state.paused = false),
    write: async (bytes) => void state.written.push(bytes),
    closeWrite: async () => {},
    close: async () => sink.closed(),
    destroy: () => sink.closed(),
    reset: () => sink.closed(),
    detach: () => {},
    ...overrides,
  };
  return { source, state, sink: () => sink };
}

/**
 * Feeds `whole` in chunks of `sizes`, two microtasks apart so that the reader runs in between, then
 * ends it: `end` (default, the peer's FIN) is given the sink.
 */
export async function feedInChunks(
  sink: () => ConnSink,
  whole: Uint8Array,
  sizes: number[],
  end: (sink: ConnSink) => void = (s) => s.end(),
): Promise<void> {
  for (const chunk of chunksOf(whole, sizes)) {
    sink().data(chunk);
    await null;
    await null;
  }
  end(sink());
}
