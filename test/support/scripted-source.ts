/** A ConnSource driven by the test: fakes for core unit tests, never proof that an adapter works. */
import type { ConnSink, ConnSource } from "../../src/index.ts";

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
