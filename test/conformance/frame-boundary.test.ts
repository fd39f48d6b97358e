/**
 * The idiom readExactly's TSDoc gives for "the peer is done" at a clean frame boundary:
 * `peek()` resolves null at EOF between frames; a FIN inside a frame is UnexpectedEofError
 * with the partial bytes; an RST at the boundary is ConnectionResetError, not "done".
 */
import assert from "node:assert/strict";
import { type Conn, ConnectionResetError, UnexpectedEofError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { concat, rejection, SIDES, sleep, withPair } from "../support/fixtures.ts";

function frame(payload: string): Uint8Array {
  const bytes = new TextEncoder().encode(payload);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

function frames(...payloads: string[]): Uint8Array {
  return concat(payloads.map(frame));
}

/** The idiom, as documented on readExactly. */
async function nextFrame(conn: Conn): Promise<Uint8Array | null> {
  if ((await conn.peek()) === null) return null;
  const header = await conn.readExactly(4);
  return conn.readExactly(new DataView(header.buffer, header.byteOffset, 4).getUint32(0));
}

async function allFrames(conn: Conn, into: string[]): Promise<void> {
  for (let f = await nextFrame(conn); f !== null; f = await nextFrame(conn)) into.push(new TextDecoder().decode(f));
}

for (const side of SIDES) {
  describe(`readExactly at a frame boundary (hangup as ${side})`, () => {
    test(
      "a FIN between frames ends the loop (peek() is null); every frame arrived whole",
      withPair(side, async ({ conn, peer, remote }) => {
        const wire = frames("one", "", "three", "x".repeat(70_000));
        const dripping = peer.drip(remote, { data: wire.subarray(0, 9), intervalMs: 5 });
        await dripping;
        await peer.send(remote, { data: wire.subarray(9), then: "fin" });
        const got: string[] = [];
        await allFrames(conn, got);
        assert.deepEqual(got, ["one", "", "three", "x".repeat(70_000)]);
        assert.equal(await conn.peek(), null);
        assert.equal((await conn.ended).reason, "eof");
        // Without the idiom, the next header read is an error even at a clean boundary.
        const err = await rejection(conn.readExactly(4));
        assert.ok(err instanceof UnexpectedEofError, String(err));
        assert.equal(err.partial.length, 0);
      }),
    );

    test(
      "a FIN inside a header is UnexpectedEofError with the partial header, not a clean end",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { data: new Uint8Array([...frames("one"), 0, 0]), then: "fin" });
        const got: string[] = [];
        const err = await rejection(allFrames(conn, got));
        assert.deepEqual(got, ["one"]);
        assert.ok(err instanceof UnexpectedEofError, String(err));
        assert.deepEqual([...err.partial], [0, 0]);
      }),
    );

    test(
      "a FIN inside a payload is UnexpectedEofError with the partial payload",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { data: frames("one", "two").subarray(0, 7 + 4 + 1), then: "fin" });
        const got: string[] = [];
        const err = await rejection(allFrames(conn, got));
        assert.deepEqual(got, ["one"]);
        assert.ok(err instanceof UnexpectedEofError, String(err));
        assert.equal(new TextDecoder().decode(err.partial), "t");
      }),
    );

    test(
      "an RST at a frame boundary is ConnectionResetError from peek(), never a clean end",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { data: frames("one") });
        const got: string[] = [];
        const loop = rejection(allFrames(conn, got));
        await sleep(100);
        await peer.rst(remote);
        const err = await loop;
        assert.deepEqual(got, ["one"]);
        assert.ok(err instanceof ConnectionResetError, String(err));
      }),
    );
  });
}
