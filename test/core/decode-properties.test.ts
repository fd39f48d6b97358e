/**
 * Property tests of `decode()` and of coalesced writes over a scripted source: for random
 * messages cut into random chunks, ending with EOF or a reset at any position, the messages
 * decoded are exactly those complete before the end, then the end is reported as SPEC says;
 * and writes issued without awaiting reach the source in order, in few calls, each settling.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConnectionResetError, createConn, type DecodeResult, LimitExceededError, UnexpectedEofError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { feedInChunks, scripted } from "../support/scripted-source.ts";
import { concat } from "../support/bytes.ts";

const RUNS = 2_000;
const TIMEOUT = 120_000;

/** Length-prefixed frames: one length byte, then that many bytes. */
function frame(bytes: Uint8Array): DecodeResult<number[]> {
  if (bytes.length < 1) return { need: 1 };
  const size = bytes[0]!;
  if (bytes.length < 1 + size) return { need: 1 + size };
  return { value: Array.from(bytes.subarray(1, 1 + size)), used: 1 + size };
}

/** Lines without a length: the decoder only learns a message is complete when its `\n` arrives. */
function line(bytes: Uint8Array): DecodeResult<string> {
  const at = bytes.indexOf(10);
  return at < 0 ? undefined : { value: new TextDecoder().decode(bytes.subarray(0, at)), used: at + 1 };
}

/**
 * `decode` checked against the decoder's side of the contract: after `{ need }` it is called again
 * with at least that many bytes, after `undefined` with more than before, never twice with the same.
 */
function keptToContract<T>(decode: (bytes: Uint8Array) => DecodeResult<T>): (bytes: Uint8Array) => DecodeResult<T> {
  let least = 1;
  return (bytes) => {
    assert.ok(bytes.length >= least, `decode() was given ${bytes.length} bytes; it had asked for ${least}`);
    const result = decode(bytes);
    least = result === undefined ? bytes.length + 1 : "value" in result ? 1 : result.need;
    return result;
  };
}

const payloads = fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 });
const cuts = fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 40 });

describe("decode() over random chunkings (fast-check)", () => {
  test("yields exactly the complete frames before the end, then eof / UnexpectedEofError / the reset", async () => {
    await fc.assert(
      fc.asyncProperty(
        payloads,
        cuts,
        fc.nat(),
        fc.constantFrom("eof", "reset"),
        fc.integer({ min: 1, max: 64 }),
        async (frames, sizes, cutAt, ending, hwm) => {
          const whole = concat(frames.map((p) => concat([Uint8Array.of(p.length), p])));
          const sent = whole.subarray(0, whole.length === 0 ? 0 : cutAt % (whole.length + 1));
          const { source, sink, state } = scripted();
          const conn = createConn(source, { highWaterMark: hwm });
          let ended = false;
          const feeding = feedInChunks(sink, sent, sizes, (s) => {
            ended = true;
            if (ending === "eof") s.end();
            else s.error(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
          });
          const got: number[][] = [];
          let thrown: unknown;
          try {
            for await (const message of conn.decode(keptToContract(frame), { maxBytes: 300 })) {
              got.push(message);
              // While the read side is open, paused only at the high-water mark: taking a message
              // below it resumes the source.
              assert.ok(ended || !state.paused || conn.buffered >= hwm, `paused with ${conn.buffered} bytes buffered (mark ${hwm})`);
            }
          } catch (err) {
            thrown = err;
          }
          await feeding;
          // The frames wholly inside `sent`, and the bytes of an incomplete one after them.
          const expected: number[][] = [];
          let at = 0;
          for (const p of frames) {
            if (at + 1 + p.length > sent.length) break;
            expected.push(Array.from(p));
            at += 1 + p.length;
          }
          assert.deepEqual(got, expected);
          if (ending === "reset") assert.ok(thrown instanceof ConnectionResetError, `got ${String(thrown)}`);
          else if (at === sent.length) assert.equal(thrown, undefined);
          else {
            assert.ok(thrown instanceof UnexpectedEofError, `got ${String(thrown)}`);
            assert.deepEqual(Array.from(thrown.partial), Array.from(sent.subarray(at)));
          }
          conn.reset();
        },
      ),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("a decoder that cannot say how much it needs still sees each message whole; breaking out keeps the rest buffered", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.stringMatching(/^[a-z]{0,20}$/), { maxLength: 10 }),
        cuts,
        fc.nat({ max: 10 }),
        async (lines, sizes, keep) => {
          const whole = new TextEncoder().encode(lines.map((l) => l + "\n").join(""));
          const { source, sink } = scripted();
          const conn = createConn(source);
          // Fed while the loop decodes, so the decoder meets partial lines and answers undefined.
          const feeding = feedInChunks(sink, whole, sizes);
          const got: string[] = [];
          if (keep > 0) {
            for await (const message of conn.decode(keptToContract(line))) {
              got.push(message);
              if (got.length === keep) break;
            }
          }
          await feeding;
          assert.deepEqual(got, lines.slice(0, keep));
          const rest = lines.slice(keep).map((l) => l + "\n").join("");
          let left = "";
          for await (const chunk of conn) left += new TextDecoder().decode(chunk);
          assert.equal(left, rest);
        },
      ),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("a big frame arriving in many pieces is decoded once (need), and past maxBytes the bytes stay buffered", async () => {
    const { source, sink } = scripted();
    const conn = createConn(source);
    let calls = 0;
    const big = new Uint8Array(1 << 20).fill(7);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, big.length);
    const frames = conn.decode((bytes) => {
      calls++;
      if (bytes.length < 4) return { need: 4 };
      const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
      return bytes.length < 4 + size ? { need: 4 + size } : { value: bytes.subarray(4, 4 + size), used: 4 + size };
    }, { maxBytes: 2 << 20 });
    const first = frames.next();
    sink().data(header);
    for (let at = 0; at < big.length; at += 65536) {
      sink().data(big.slice(at, at + 65536));
      await null;
      await null;
    }
    const result = await first;
    assert.equal(result.done, false);
    assert.equal((result.value as Uint8Array).length, big.length);
    assert.ok(calls <= 3, `decode() was called ${calls} times for one frame`);

    const limited = conn.decode(() => undefined, { maxBytes: 100 });
    sink().data(new Uint8Array(150));
    const err = await limited.next().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof LimitExceededError, `got ${String(err)}`);
    assert.equal(conn.buffered, 150, "the bytes stay buffered");
    conn.reset();
  });

  test("small messages across chunk boundaries are decoded from a copy of the message alone, never from joined chunks, even after a big one", async () => {
    const { source, sink } = scripted();
    const conn = createConn(source, { highWaterMark: 1 << 20 });
    const chunkSize = 65536;
    const payload = new Uint8Array(100).map((_, i) => i);
    const big = new Uint8Array(200_000).fill(9); // joined from four chunks
    const count = 5000; // then 104-byte frames over 8 chunks: most boundaries cut a frame
    const framed = (bytes: Uint8Array): Uint8Array => {
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, bytes.length);
      return concat([header, bytes]);
    };
    const wire = concat([framed(big), ...Array.from({ length: count }, () => framed(payload))]);
    let largest = 0;
    let bigSeen = false;
    const frames = conn.decode((bytes) => {
      if (bigSeen) largest = Math.max(largest, bytes.length);
      if (bytes.length < 4) return { need: 4 };
      const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
      return bytes.length < 4 + size ? { need: 4 + size } : { value: bytes.subarray(4, 4 + size), used: 4 + size };
    }, { maxBytes: 1 << 20 });
    // One chunk at a time, the reader keeping up, as over a socket.
    const feeding = (async () => {
      for (let at = 0; at < wire.length; at += chunkSize) {
        sink().data(wire.slice(at, at + chunkSize));
        for (let turn = 0; turn < 20; turn++) await null;
      }
      sink().end();
    })();
    let got = 0;
    for await (const frame of frames) {
      if (!bigSeen) {
        assert.deepEqual(frame, big);
        bigSeen = true;
        continue;
      }
      assert.deepEqual(frame, payload);
      got++;
    }
    await feeding;
    assert.equal(got, count);
    assert.ok(largest <= chunkSize, `the decoder was given ${largest} bytes after the big frame: chunks were joined`);
  });

  test("maxBytes caps a message's length however its bytes arrive: one whole chunk, or pieces behind a need", async () => {
    const lengthPrefixed = (bytes: Uint8Array) => {
      if (bytes.length < 1) return { need: 1 };
      const used = 1 + bytes[0]!;
      return bytes.length < used ? { need: used } : { value: bytes.slice(1, used), used };
    };
    const message = (size: number) => Uint8Array.of(size - 1, ...new Uint8Array(size - 1).fill(7));
    for (const arrival of ["whole", "pieces"] as const) {
      const { source, sink } = scripted();
      const conn = createConn(source);
      const frames = conn.decode(lengthPrefixed, { maxBytes: 100 });
      /** The next message's outcome, its bytes fed whole, or its first byte alone after the read began. */
      const next = async (bytes: Uint8Array) => {
        if (arrival === "whole") sink().data(bytes);
        const outcome = frames.next().then((r) => r.value as Uint8Array, (e: unknown) => e);
        if (arrival === "pieces") {
          sink().data(bytes.subarray(0, 1));
          await null;
          sink().data(bytes.subarray(1));
        }
        return outcome;
      };
      assert.equal(((await next(message(100))) as Uint8Array).length, 99, `a message of maxBytes is yielded (${arrival})`);
      const over = await next(message(101));
      assert.ok(over instanceof LimitExceededError, `${arrival}: got ${String(over)}`);
      assert.equal(over.limit, 100);
      assert.equal(conn.buffered, 101, `${arrival}: the bytes stay buffered`);
      conn.reset();
    }
    const { source, sink } = scripted();
    const conn = createConn(source);
    sink().data(new Uint8Array(100));
    const undecided = await conn.decode(() => undefined, { maxBytes: 100 }).next().then(() => undefined, (e: unknown) => e);
    assert.ok(undecided instanceof LimitExceededError, `maxBytes buffered and no message: ${String(undecided)}`);
    assert.equal(undecided.message, "Cannot read: no message within 100 bytes");
    conn.reset();
  });

  test("bad decoders and answers are refused with a TypeError or RangeError that says what was wrong", async () => {
    const { source, sink } = scripted();
    const conn = createConn(source);
    assert.throws(() => conn.decode(null as never), /^TypeError: decoder must be/);
    assert.throws(() => conn.decode(frame, { maxBytes: 0 }), /^RangeError: maxBytes/);
    sink().data(Uint8Array.of(1, 2, 3));
    const zero = await conn.decode(() => ({ value: 1, used: 0 })).next().then(() => undefined, (e: unknown) => e);
    assert.ok(zero instanceof RangeError && /used: 0/.test(zero.message), String(zero));
    const stale = await conn.decode(() => ({ need: 2 })).next().then(() => undefined, (e: unknown) => e);
    assert.ok(stale instanceof RangeError && /need: 2/.test(stale.message), String(stale));
    const nothing = await conn.decode(() => null as never).next().then(() => undefined, (e: unknown) => e);
    assert.ok(nothing instanceof TypeError, String(nothing));
    assert.equal(nothing.message, "decode() returned null; it must return { value, used }, { need } or undefined");
    const word = await conn.decode(() => "frame" as never).next().then(() => undefined, (e: unknown) => e);
    assert.ok(word instanceof TypeError, String(word));
    assert.equal(word.message, 'decode() returned the string "frame"; it must return { value, used }, { need } or undefined');
    const empty = await conn.decode(() => ({}) as never).next().then(() => undefined, (e: unknown) => e);
    assert.ok(empty instanceof TypeError, String(empty));
    assert.equal(
      empty.message,
      "decode() returned an object with neither value nor need; it must return { value, used }, { need } or undefined",
    );
    const tooBig = await conn.decode(() => ({ need: 100 }), { maxBytes: 10 }).next().then(() => undefined, (e: unknown) => e);
    assert.ok(tooBig instanceof LimitExceededError, String(tooBig));
    assert.equal(tooBig.message, "Cannot read: the decoder needs 100 bytes for its next message, over maxBytes (10)");
    assert.equal(conn.buffered, 3, "the bytes stay buffered");
    conn.reset();
  });
});

describe("coalesced writes over a scripted source", () => {
  test("writes issued without awaiting reach the source in order, in few calls, and each one resolves", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 60 }), async (parts) => {
        const { source, state } = scripted();
        const conn = createConn(source);
        await Promise.all(parts.map((p) => conn.write(p)));
        assert.deepEqual(Array.from(concat(state.written)), Array.from(concat(parts)));
        const total = parts.reduce((n, p) => n + p.length, 0);
        assert.ok(
          state.written.length <= Math.ceil(total / 65536) + 1,
          `${parts.length} writes became ${state.written.length} source writes`,
        );
        const largest = Math.max(...state.written.map((bytes) => bytes.length));
        assert.ok(largest <= 65536, `writes of at most 3000 bytes each were joined into one of ${largest} bytes (over 64 KiB)`);
        conn.reset();
      }),
      { numRuns: 500 },
    );
  }, { timeout: TIMEOUT });
});
